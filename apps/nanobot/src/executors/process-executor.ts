import type { EffectiveSettings } from "../settings.js";
import { buildChildEnv, createTail, describeError, writeContextFiles } from "./common.js";
import { evaluateCommand } from "./policy.js";
import { runProcess } from "./process.js";
import { renderTemplate, splitTemplate, TemplateError } from "./template.js";
import type { ExecutionContext, ExecutionResult, Executor } from "./types.js";

export const DEFAULT_SHELL_TEMPLATE = ["bash", "-lc", "{prompt}"];

export type ProcessExecutorDeps = {
  settings: EffectiveSettings;
  hostEnv: Record<string, string | undefined>;
};

function templateOf(kind: "shell" | "command", settings: EffectiveSettings): string[] {
  const template = settings.executor.command ?? (kind === "shell" ? DEFAULT_SHELL_TEMPLATE : undefined);
  if (!template)
    throw new TemplateError('the command executor needs executor.command (e.g. "claude -p {prompt}")');
  return Array.isArray(template) ? template : splitTemplate(template);
}

/**
 * `shell` runs the prompt through a command template (default `bash -lc {prompt}`: the
 * prompt is the script, passed as one argument); deny patterns always apply, and the
 * allow list and approvals when one is configured. `command` wraps an agent CLI: the
 * prompt is data for it, handed over as an argument, on stdin or in PERSEUS_PROMPT.
 */
export function createProcessExecutor(kind: "shell" | "command", deps: ProcessExecutorDeps): Executor {
  const { settings } = deps;
  return {
    type: kind,
    requiredPrograms: () => {
      try {
        return [templateOf(kind, settings)[0]!];
      } catch {
        return [];
      }
    },
    async run(context: ExecutionContext): Promise<ExecutionResult> {
      const { task, sandbox } = context;
      let argv: string[];
      let env: Record<string, string>;
      try {
        const decision = kind === "shell" ? evaluateCommand(task.prompt, settings.policy, null) : null;
        if (decision?.action === "deny")
          return { status: "failed", message: `refused by policy: ${decision.reason}`, retryable: false };
        const contextFiles = await writeContextFiles(sandbox, task);
        argv = renderTemplate(templateOf(kind, settings), {
          "{prompt}": task.prompt,
          "{contextFile}": contextFiles.markdown,
          "{taskId}": task.id,
          "{sandbox}": sandbox.root,
        });
        env = buildChildEnv(deps.hostEnv, settings, {
          ...context.taskEnv,
          PERSEUS_PROMPT: task.prompt,
          PERSEUS_TASK_ID: task.id,
          PERSEUS_CONTEXT_FILE: contextFiles.markdown,
          PERSEUS_CONTEXT_JSON: contextFiles.json,
          PERSEUS_SANDBOX: sandbox.root,
        });
        if (decision?.action === "approve") {
          // The approval binds exactly what runs below: this script, directory and environment.
          const subject = { taskId: task.id, command: task.prompt, cwd: sandbox.root, env };
          const grant = await context.approvals.request(subject, decision.reason, context.signal);
          if (!grant)
            return {
              status: "failed",
              message: `needs an approval that was not given (${decision.reason})`,
              retryable: false,
            };
          context.approvals.consume(grant, subject);
        }
      } catch (error) {
        return { status: "failed", message: describeError(error), retryable: false };
      }
      const stdout = createTail(settings.executor.maxOutputChars);
      const stderr = createTail(4_000);
      context.log.debug("starting process", { argv0: argv[0], taskId: task.id });
      const outcome = await runProcess({
        argv,
        cwd: sandbox.root,
        env,
        stdin: settings.executor.stdin === "prompt" ? task.prompt : undefined,
        timeoutMs: settings.executor.timeoutMs,
        signal: context.signal,
        onStdout: (chunk) => {
          stdout.push(chunk);
          context.progress("stdout", chunk);
        },
        onStderr: (chunk) => {
          stderr.push(chunk);
          context.progress("stderr", chunk);
        },
      });
      if (outcome.spawnError)
        return {
          status: "failed",
          message: `could not start ${argv[0]}: ${outcome.spawnError}`,
          retryable: false,
        };
      if (outcome.aborted) return { status: "failed", message: "stopped", retryable: true };
      if (outcome.timedOut) {
        return {
          status: "failed",
          message: `timed out after ${settings.executor.timeoutMs} ms; the process group was killed`,
          retryable: false,
        };
      }
      if (outcome.code !== 0) {
        const how = outcome.code === null ? `signal ${outcome.signal}` : `exit code ${outcome.code}`;
        const tail = stderr.value().trim() || stdout.value().trim().slice(-2_000);
        return {
          status: "failed",
          message: `${argv[0]} ended with ${how}${tail ? `:\n${tail}` : ""}`,
          retryable: false,
        };
      }
      return { status: "succeeded", result: { text: stdout.value() } };
    },
  };
}
