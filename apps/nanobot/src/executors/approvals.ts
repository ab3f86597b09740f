import { createHash, randomUUID } from "node:crypto";
import { open } from "node:fs/promises";
import { createInterface } from "node:readline";
import { approvalBindingMaterial, approvalEnvMaterial } from "@perseus/contracts";
import type { Logger } from "../log.js";
import { runProcess } from "./process.js";

/** What would run: the exact command, in this directory, with this environment, for this task. */
export type ApprovalSubject = {
  taskId: string;
  command: string;
  cwd: string;
  env: Record<string, string>;
};

export type ApprovalRequest = {
  id: string;
  taskId: string;
  /** The exact command that will run if approved. */
  command: string;
  commandHash: string;
  cwd: string;
  /** sha256 of the sorted environment the command runs with (the values are never sent). */
  envHash: string;
  /** sha256 of command, cwd, envHash and task: what a decision binds. */
  bindingHash: string;
  reason: string;
};

/**
 * An approver's answer: a plain yes/no from someone on this host who was asked about
 * exactly this request, or a decision made elsewhere that names the binding it approves.
 */
export type ApprovalAnswer = boolean | { approved: boolean; bindingHash: string };

/** Someone (or something) who can say yes. The model never is. */
export type Approver = {
  name: string;
  decide(request: ApprovalRequest, signal: AbortSignal): Promise<ApprovalAnswer>;
};

/** A yes bound to one task and one exact command, directory and environment, usable once. */
export type ApprovalGrant = { readonly id: string; readonly taskId: string; readonly bindingHash: string };

export class ApprovalRefused extends Error {
  override name = "ApprovalRefused";
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

export const hashCommand = sha256;

/** The hashes that bind an approval to a subject (computed the same way by the platform). */
export function bindingOf(subject: ApprovalSubject): { envHash: string; bindingHash: string } {
  const envHash = sha256(approvalEnvMaterial(subject.env));
  return { envHash, bindingHash: sha256(approvalBindingMaterial({ ...subject, envHash })) };
}

/**
 * Approvals are enforced here, on the robot's host: a grant is minted only from an
 * approver's yes to this exact subject (by binding hash), and consumed once, for that
 * subject. When no approver is configured every request is denied.
 */
export class ApprovalGate {
  private readonly issued = new Map<string, ApprovalGrant>();
  private readonly approver: Approver | null;
  private readonly log: Logger;

  constructor(approver: Approver | null, log: Logger) {
    this.approver = approver;
    this.log = log;
  }

  get approverName() {
    return this.approver?.name ?? "none";
  }

  async request(
    subject: ApprovalSubject,
    reason: string,
    signal: AbortSignal,
  ): Promise<ApprovalGrant | null> {
    const { taskId, command, cwd } = subject;
    const request: ApprovalRequest = {
      id: randomUUID(),
      taskId,
      command,
      commandHash: hashCommand(command),
      cwd,
      ...bindingOf(subject),
      reason,
    };
    if (!this.approver) {
      this.log.warn("approval needed but no approver is configured: denied", { taskId, command, reason });
      return null;
    }
    let approved = false;
    try {
      const answer = await this.approver.decide(request, signal);
      if (typeof answer === "boolean") approved = answer;
      else if (answer.approved && answer.bindingHash !== request.bindingHash)
        this.log.warn("an approval for something else was refused", { taskId, command });
      else approved = answer.approved;
    } catch (error) {
      this.log.warn("approver failed: denied", { taskId, error: (error as Error).message });
    }
    this.log.info(approved ? "command approved" : "command denied", {
      taskId,
      command,
      approver: this.approver.name,
      requestId: request.id,
    });
    if (!approved) return null;
    const grant: ApprovalGrant = Object.freeze({ id: request.id, taskId, bindingHash: request.bindingHash });
    this.issued.set(grant.id, grant);
    return grant;
  }

  /** Spends a grant: refused unless it is this gate's, unused, and for exactly this task, command, directory and environment. */
  consume(grant: ApprovalGrant, subject: ApprovalSubject): void {
    const issued = this.issued.get(grant.id);
    if (!issued || issued !== grant) throw new ApprovalRefused("unknown or already used approval");
    if (issued.taskId !== subject.taskId) throw new ApprovalRefused("approval belongs to another task");
    if (issued.bindingHash !== bindingOf(subject).bindingHash)
      throw new ApprovalRefused("approval was given for a different command, directory or environment");
    this.issued.delete(grant.id);
  }
}

/** Denies everything: the default when nobody can approve. */
export const denyApprover: Approver = { name: "deny", decide: async () => false };

/** Asks on the controlling terminal (not stdin, which may be a pipe); silence past the timeout is a no. */
export function createTtyApprover(timeoutMs = 120_000): Approver {
  let queue: Promise<unknown> = Promise.resolve();
  const ask = async (request: ApprovalRequest, signal: AbortSignal) => {
    const tty = await open("/dev/tty", "r+");
    const input = tty.createReadStream();
    const output = tty.createWriteStream();
    const rl = createInterface({ input, output, terminal: true });
    try {
      const answer = await new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve(""), timeoutMs);
        signal.addEventListener("abort", () => resolve(""), { once: true });
        rl.question(
          `\n[perseus-nanobot] task ${request.taskId} wants to run (${request.reason}):\n    ${request.command}\nin ${request.cwd}\nApprove? [y/N] `,
          (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        );
      });
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      rl.close();
      await tty.close().catch(() => {});
    }
  };
  return {
    name: "tty",
    decide(request, signal) {
      const next = queue.then(() => ask(request, signal)); // one question at a time
      queue = next.catch(() => {});
      return next;
    },
  };
}

/**
 * Runs an operator's program (a notifier, a chat-ops hook) per request, with the exact
 * command in PERSEUS_APPROVAL_COMMAND: exit 0 approves, anything else (or a timeout) denies.
 */
export function createCommandApprover(
  argv: string[],
  env: Record<string, string>,
  timeoutMs = 120_000,
): Approver {
  return {
    name: `command:${argv[0] ?? ""}`,
    async decide(request, signal) {
      const outcome = await runProcess({
        argv,
        cwd: env.HOME ?? "/",
        env: {
          ...env,
          PERSEUS_APPROVAL_ID: request.id,
          PERSEUS_APPROVAL_TASK_ID: request.taskId,
          PERSEUS_APPROVAL_COMMAND: request.command,
          PERSEUS_APPROVAL_COMMAND_SHA256: request.commandHash,
          PERSEUS_APPROVAL_CWD: request.cwd,
          PERSEUS_APPROVAL_REASON: request.reason,
        },
        timeoutMs,
        signal,
      });
      return outcome.code === 0 && !outcome.timedOut && !outcome.aborted;
    },
  };
}
