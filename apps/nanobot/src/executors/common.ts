import type { OfferedTask } from "@perseus/contracts";
import type { EffectiveSettings } from "../settings.js";
import type { Sandbox } from "./sandbox.js";

/** Host variables a program reasonably needs; nothing else leaks in (no credentials, no tokens). */
const BASE_ENV = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "SHELL", "TZ"];

export function buildChildEnv(
  hostEnv: Record<string, string | undefined>,
  settings: Pick<EffectiveSettings, "env" | "passEnv">,
  taskEnv: Record<string, string>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...BASE_ENV, ...settings.passEnv]) {
    const value = hostEnv[name];
    if (value !== undefined) env[name] = value;
  }
  env.PATH ??= "/usr/local/bin:/usr/bin:/bin";
  return { ...env, ...settings.env, ...taskEnv };
}

/** Keeps the last `limit` characters of a stream: results are bounded, the end matters most. */
export function createTail(limit: number) {
  let text = "";
  let dropped = false;
  return {
    push(chunk: string) {
      text += chunk;
      if (text.length > limit * 2) {
        text = text.slice(-limit);
        dropped = true;
      }
    },
    value() {
      const over = text.length > limit;
      const body = over ? text.slice(-limit) : text;
      return dropped || over ? `…${body}` : body;
    },
  };
}

function renderHistory(task: OfferedTask): string {
  const lines = [
    "# Perseus task",
    "",
    `Task: ${task.id} (attempt ${task.attempt})`,
    "",
    "## Chat history (oldest first)",
    "",
  ];
  for (const message of task.history)
    lines.push(`- **${message.authorName}** (${message.createdAt}): ${message.body}`);
  if (task.history.length === 0) lines.push("(none)");
  lines.push("", "## Request", "", task.prompt, "");
  return lines.join("\n");
}

/** Writes the task's context (history as markdown and JSON) into the sandbox for agent CLIs to read. */
export async function writeContextFiles(sandbox: Sandbox, task: OfferedTask) {
  await sandbox.writeFile(".perseus/context.md", renderHistory(task));
  await sandbox.writeFile(".perseus/context.json", JSON.stringify({ task }, null, 2));
  return {
    markdown: await sandbox.resolvePath(".perseus/context.md"),
    json: await sandbox.resolvePath(".perseus/context.json"),
  };
}

export function describeError(error: unknown) {
  return error instanceof Error ? error.message : String(error);
}
