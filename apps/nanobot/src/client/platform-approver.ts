import { type ApprovalDecidedFrame, ApprovalRequestResult, type RobotClientFrame } from "@perseus/contracts";
import type { ApprovalAnswer, ApprovalRequest, Approver } from "../executors/approvals.js";
import type { Logger } from "../log.js";
import { type Channel, FrameError } from "./channel.js";

export type PlatformApproverDeps = {
  /** The current connection, if any. */
  channel(): Channel | null;
  /** The epoch of the lease this robot holds for a task, or null when it holds none. */
  epochOf(taskId: string): number | null;
  /** Whether the connected platform announced the `approvals` feature. */
  isSupported(): boolean;
  nextId(prefix: string): string;
  log: Logger;
  /** How long a person has to answer; silence is a denial. */
  timeoutMs: number;
};

type Waiter = { taskId: string; resolve(answer: ApprovalAnswer): void };

const DENIED: ApprovalAnswer = false;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Asks the platform: the request appears in the task's chat, an owner or admin decides
 * in the console, and the decision comes back as an `approval.decided` frame. Each
 * request id is answered at most once; decisions for anything else (a replay, another
 * task, a request that timed out) are ignored. The gate checks the binding hash.
 */
export function createPlatformApprover(deps: PlatformApproverDeps): Approver & {
  onDecided(frame: ApprovalDecidedFrame): void;
} {
  const waiting = new Map<string, Waiter>();

  /** Sends the request until it is acknowledged (resent after a reconnect; the server dedupes by id). */
  async function deliver(frame: RobotClientFrame, deadline: number, isOpen: () => boolean): Promise<boolean> {
    while (isOpen() && Date.now() < deadline) {
      const channel = deps.channel();
      if (!channel?.isOpen) {
        await sleep(200);
        continue;
      }
      try {
        const result = ApprovalRequestResult.parse(
          await channel.request(frame, Math.min(15_000, deadline - Date.now())),
        );
        deps.log.info("approval requested from the platform", {
          requestId: (frame as { requestId: string }).requestId,
          status: result.status,
        });
        return true;
      } catch (error) {
        if (error instanceof FrameError) {
          deps.log.warn("the platform refused the approval request: denied", { error: error.message });
          return false;
        }
        await sleep(200); // not acknowledged: the connection dropped; try again once it is back
      }
    }
    return false;
  }

  return {
    name: "platform",
    async decide(request: ApprovalRequest, signal: AbortSignal): Promise<ApprovalAnswer> {
      const epoch = deps.epochOf(request.taskId);
      if (epoch === null || !deps.isSupported()) {
        deps.log.warn("the platform cannot take approval requests here: denied", { taskId: request.taskId });
        return DENIED;
      }
      // A little longer than the platform's expiry, so its `expired` answer usually arrives first.
      const deadline = Date.now() + deps.timeoutMs + 2_000;
      let settle!: (answer: ApprovalAnswer) => void;
      const answered = new Promise<ApprovalAnswer>((resolve) => {
        settle = resolve;
      });
      let isOpen = true;
      const finish = (answer: ApprovalAnswer) => {
        if (!isOpen) return;
        isOpen = false;
        waiting.delete(request.id);
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        settle(answer);
      };
      const onAbort = () => finish(DENIED);
      const timer = setTimeout(() => {
        deps.log.warn("no approval decision in time: denied", { requestId: request.id });
        finish(DENIED);
      }, deadline - Date.now());
      signal.addEventListener("abort", onAbort, { once: true });
      waiting.set(request.id, { taskId: request.taskId, resolve: finish });
      if (signal.aborted) finish(DENIED);
      const frame: RobotClientFrame = {
        type: "approval.request",
        id: deps.nextId("apr"),
        requestId: request.id,
        taskId: request.taskId,
        epoch,
        command: request.command,
        cwd: request.cwd,
        envHash: request.envHash,
        bindingHash: request.bindingHash,
        reason: request.reason.slice(0, 1_000),
        expiresInMs: deps.timeoutMs,
      };
      void deliver(frame, deadline, () => isOpen).then((sent) => {
        if (!sent) finish(DENIED);
      });
      return answered;
    },
    onDecided(frame) {
      const waiter = waiting.get(frame.requestId);
      if (!waiter || waiter.taskId !== frame.taskId) {
        deps.log.info("ignoring an approval decision for no pending request (replayed or late)", {
          requestId: frame.requestId,
        });
        return;
      }
      deps.log.info("approval decided on the platform", {
        requestId: frame.requestId,
        decision: frame.decision,
        decidedBy: frame.decidedBy,
      });
      waiter.resolve({ approved: frame.decision === "approved", bindingHash: frame.bindingHash });
    },
  };
}
