import type { TaskResult } from "@perseus/contracts";
import type { EffectiveSettings, ResolvedProfile } from "../../settings.js";
import { buildChildEnv, createTail, describeError } from "../common.js";
import { runProcess } from "../process.js";
import { renderTemplate, splitTemplate } from "../template.js";
import type { ExecutionContext, ExecutionResult, Executor } from "../types.js";
import { type ChatMessage, ModelError, redact, streamChat } from "./model-client.js";
import { AGENT_TOOLS, executeTool, type ToolDeps } from "./tools.js";
import { createUsageMeter } from "./usage.js";

export type AgentExecutorDeps = {
  settings: EffectiveSettings;
  hostEnv: Record<string, string | undefined>;
  fetchImpl?: typeof fetch;
  /** How often the same tool call in a row counts as a loop. */
  loopThreshold?: number;
};

const SYSTEM = `You are a Perseus robot working on a task from a team chat.
You work in a sandbox directory; file tools only reach inside it.
Commands outside the allow list need an approval from a person on the robot's host. You cannot approve anything yourself.
When you are done, answer with the result for the chat (no tool call).`;

function initialMessages(
  context: ExecutionContext,
  settings: EffectiveSettings,
  note: string | null,
): ChatMessage[] {
  const history = context.task.history.map((m) => `${m.authorName}: ${m.body}`).join("\n");
  const user = [
    history ? `Recent chat history (oldest first):\n${history}\n` : "",
    `Task:\n${context.task.prompt}`,
    note ? `\nA previous attempt failed (${note}). Check the sandbox state and finish the task.` : "",
  ].join("\n");
  return [
    { role: "system", content: settings.agent.system ? `${SYSTEM}\n\n${settings.agent.system}` : SYSTEM },
    { role: "user", content: user },
  ];
}

type Attempt = { outcome: "done"; text: string } | { outcome: "escalate"; signal: string };

/**
 * The built-in tool-using agent. Profiles are tried cheap → strong: a tool loop, an
 * exhausted step budget, a model error or a failed self-check escalates to the next one
 * (the sandbox keeps its state); when the strongest fails too, the task fails.
 */
export function createAgentExecutor(deps: AgentExecutorDeps): Executor {
  const { settings } = deps;
  const loopThreshold = deps.loopThreshold ?? 3;
  const toolDeps: ToolDeps = {
    settings,
    hostEnv: deps.hostEnv,
    commandTimeoutMs: Math.min(settings.executor.timeoutMs, 120_000),
  };

  const selfCheck = async (context: ExecutionContext): Promise<string | null> => {
    const check = settings.agent.selfCheck;
    if (!check) return null;
    // Configured in the local file by the machine's owner: it runs without the model's policy.
    const argv = Array.isArray(check.command) ? check.command : splitTemplate(check.command);
    const output = createTail(4_000);
    const outcome = await runProcess({
      argv: renderTemplate(argv, {
        "{prompt}": context.task.prompt,
        "{contextFile}": "",
        "{taskId}": context.task.id,
        "{sandbox}": context.sandbox.root,
      }),
      cwd: context.sandbox.root,
      env: buildChildEnv(deps.hostEnv, settings, context.taskEnv),
      timeoutMs: check.timeoutMs ?? 120_000,
      signal: context.signal,
      onStdout: output.push,
      onStderr: output.push,
    });
    return outcome.code === 0
      ? null
      : `self-check failed (${outcome.spawnError ?? `exit ${outcome.code}`}): ${output.value().slice(-2_000)}`;
  };

  const attempt = async (
    context: ExecutionContext,
    profile: ResolvedProfile,
    note: string | null,
    usage: { inputTokens: number; outputTokens: number },
  ): Promise<Attempt> => {
    const messages = initialMessages(context, settings, note);
    let lastSignature = "";
    let repeats = 0;
    for (let step = 0; step < settings.agent.maxSteps; step++) {
      if (context.signal.aborted) return { outcome: "escalate", signal: "stopped" };
      const turn = await streamChat({
        profile,
        messages,
        tools: AGENT_TOOLS,
        signal: context.signal,
        fetchImpl: deps.fetchImpl,
        onText: (delta) => context.progress("text", delta),
        onReasoning: (delta) => context.progress("reasoning", delta),
      });
      usage.inputTokens += turn.usage.inputTokens;
      usage.outputTokens += turn.usage.outputTokens;
      messages.push({
        role: "assistant",
        content: turn.content || null,
        ...(turn.toolCalls.length ? { tool_calls: turn.toolCalls } : {}),
      });
      if (turn.toolCalls.length === 0) {
        const failure = await selfCheck(context);
        return failure ? { outcome: "escalate", signal: failure } : { outcome: "done", text: turn.content };
      }
      for (const call of turn.toolCalls) {
        const signature = `${call.function.name}:${call.function.arguments}`;
        repeats = signature === lastSignature ? repeats + 1 : 1;
        lastSignature = signature;
        if (repeats >= loopThreshold)
          return {
            outcome: "escalate",
            signal: `tool loop: ${call.function.name} repeated ${repeats} times`,
          };
        context.progress(
          "tool_call",
          JSON.stringify({ name: call.function.name, arguments: call.function.arguments.slice(0, 2_000) }),
        );
        const output = await executeTool(context, toolDeps, call.function.name, call.function.arguments);
        messages.push({ role: "tool", tool_call_id: call.id, content: output.slice(0, 20_000) });
      }
    }
    return { outcome: "escalate", signal: `step budget of ${settings.agent.maxSteps} exhausted` };
  };

  return {
    type: "agent",
    requiredPrograms: () => ["bash"],
    async run(context): Promise<ExecutionResult> {
      const profiles = settings.agent.profiles;
      if (profiles.length === 0)
        return {
          status: "failed",
          message: "the agent executor has no model profiles configured",
          retryable: false,
        };
      const meter = createUsageMeter();
      let note: string | null = null;
      for (const [index, profile] of profiles.entries()) {
        if (index > 0) context.progress("status", `escalating to model profile ${profile.name}: ${note}`);
        let result: Attempt;
        try {
          result = await attempt(context, profile, note, meter.start(profile));
        } catch (error) {
          if (context.signal.aborted) return { status: "failed", message: "stopped", retryable: true };
          const message = error instanceof ModelError ? error.message : redact(describeError(error), profile);
          result = { outcome: "escalate", signal: message };
        }
        if (result.outcome === "done") {
          const text: TaskResult = {
            text: result.text.slice(-settings.executor.maxOutputChars),
            usage: meter.summary(),
          };
          return { status: "succeeded", result: text };
        }
        note = result.signal;
        meter.escalated(note);
        context.log.warn("agent attempt failed", {
          taskId: context.task.id,
          profile: profile.name,
          signal: note,
        });
      }
      return { status: "failed", message: `all model profiles failed; last: ${note}`, retryable: true };
    },
  };
}
