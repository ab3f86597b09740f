import { z } from "zod";
import type { EffectiveSettings } from "../../settings.js";
import { ApprovalRefused } from "../approvals.js";
import { buildChildEnv, createTail, describeError } from "../common.js";
import { evaluateCommand } from "../policy.js";
import { runProcess } from "../process.js";
import { SandboxViolation } from "../sandbox.js";
import type { ExecutionContext } from "../types.js";
import type { ToolSpec } from "./model-client.js";

const stringParam = (description: string) => ({ type: "string", description });

export const AGENT_TOOLS: ToolSpec[] = [
  {
    type: "function",
    function: {
      name: "run_command",
      description:
        "Run a shell command in the task's sandbox directory. Commands outside the allow list need a person's approval (an owner or admin), which you cannot give.",
      parameters: {
        type: "object",
        properties: { command: stringParam("the exact command") },
        required: ["command"],
      },
    },
  },
  {
    type: "function",
    function: {
      name: "read_file",
      description: "Read a text file inside the sandbox (relative path).",
      parameters: { type: "object", properties: { path: stringParam("relative path") }, required: ["path"] },
    },
  },
  {
    type: "function",
    function: {
      name: "write_file",
      description: "Write a text file inside the sandbox (relative path), replacing it.",
      parameters: {
        type: "object",
        properties: { path: stringParam("relative path"), content: stringParam("the whole file") },
        required: ["path", "content"],
      },
    },
  },
  {
    type: "function",
    function: {
      name: "list_files",
      description: "List a directory inside the sandbox (relative path, default '.').",
      parameters: { type: "object", properties: { path: stringParam("relative path") } },
    },
  },
  {
    type: "function",
    function: {
      name: "post_progress",
      description: "Tell the people in the chat what you are doing (one short line).",
      parameters: {
        type: "object",
        properties: { message: stringParam("the update") },
        required: ["message"],
      },
    },
  },
];

// Only the named fields are read: anything else a model adds (say "approved": true) is dropped.
const RunCommandArgs = z.object({ command: z.string().min(1).max(10_000) });
const ReadFileArgs = z.object({ path: z.string().min(1).max(4_096) });
const WriteFileArgs = z.object({ path: z.string().min(1).max(4_096), content: z.string().max(2_000_000) });
const ListFilesArgs = z.object({ path: z.string().max(4_096).default(".") });
const PostProgressArgs = z.object({ message: z.string().min(1).max(2_000) });

export type ToolDeps = {
  settings: EffectiveSettings;
  hostEnv: Record<string, string | undefined>;
  commandTimeoutMs: number;
};

/** Runs a command after the policy and (when needed) an approval bound to exactly this command. */
export async function runPolicedCommand(
  context: ExecutionContext,
  deps: ToolDeps,
  command: string,
): Promise<string> {
  const decision = evaluateCommand(command, deps.settings.policy);
  if (decision.action === "deny") return `refused: ${decision.reason}`;
  const cwd = context.sandbox.root;
  const env = buildChildEnv(deps.hostEnv, deps.settings, { ...context.taskEnv, PERSEUS_SANDBOX: cwd });
  if (decision.action === "approve") {
    // Bound to exactly what runs below: this command, directory and environment, once.
    const subject = { taskId: context.task.id, command, cwd, env };
    const grant = await context.approvals.request(subject, decision.reason, context.signal);
    if (!grant) return `refused: this command needs an approval and none was given (${decision.reason})`;
    context.approvals.consume(grant, subject);
  }
  const output = createTail(8_000);
  const outcome = await runProcess({
    argv: ["bash", "-c", command],
    cwd,
    env,
    timeoutMs: deps.commandTimeoutMs,
    signal: context.signal,
    onStdout: (chunk) => {
      output.push(chunk);
      context.progress("stdout", chunk);
    },
    onStderr: (chunk) => {
      output.push(chunk);
      context.progress("stderr", chunk);
    },
  });
  if (outcome.spawnError) return `could not start bash: ${outcome.spawnError}`;
  const status = outcome.timedOut ? "timed out (killed)" : `exit code ${outcome.code ?? outcome.signal}`;
  return `${status}\n${output.value()}`;
}

/** Executes one tool call; every failure becomes text for the model, never an exception out of the loop. */
export async function executeTool(
  context: ExecutionContext,
  deps: ToolDeps,
  name: string,
  rawArgs: string,
): Promise<string> {
  let args: unknown;
  try {
    args = JSON.parse(rawArgs);
  } catch {
    return "error: arguments are not valid JSON";
  }
  try {
    switch (name) {
      case "run_command":
        return await runPolicedCommand(context, deps, RunCommandArgs.parse(args).command);
      case "read_file":
        return await context.sandbox.readFile(ReadFileArgs.parse(args).path);
      case "write_file": {
        const { path, content } = WriteFileArgs.parse(args);
        await context.sandbox.writeFile(path, content);
        return `wrote ${content.length} characters to ${path}`;
      }
      case "list_files":
        return (await context.sandbox.listDir(ListFilesArgs.parse(args ?? {}).path)).join("\n") || "(empty)";
      case "post_progress":
        context.progress("status", PostProgressArgs.parse(args).message);
        return "posted";
      default:
        return `error: unknown tool ${name}`;
    }
  } catch (error) {
    if (error instanceof SandboxViolation) return `refused: ${error.message}`;
    if (error instanceof ApprovalRefused) return `refused: ${error.message}`;
    if (error instanceof z.ZodError)
      return `error: invalid arguments: ${error.issues.map((i) => i.message).join("; ")}`;
    return `error: ${describeError(error)}`;
  }
}
