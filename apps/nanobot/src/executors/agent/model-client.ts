import type { ResolvedProfile } from "../../settings.js";

export type ToolCall = { id: string; type: "function"; function: { name: string; arguments: string } };
export type ChatMessage =
  | { role: "system" | "user"; content: string }
  | { role: "assistant"; content: string | null; tool_calls?: ToolCall[] }
  | { role: "tool"; tool_call_id: string; content: string };

export type ToolSpec = {
  type: "function";
  function: { name: string; description: string; parameters: Record<string, unknown> };
};

export type ChatTurn = {
  content: string;
  toolCalls: ToolCall[];
  finishReason: string | null;
  usage: { inputTokens: number; outputTokens: number };
};

export class ModelError extends Error {
  override name = "ModelError";
}

type Delta = {
  content?: string | null;
  reasoning_content?: string | null;
  reasoning?: string | null;
  tool_calls?: { index?: number; id?: string; function?: { name?: string; arguments?: string } }[];
};
type Chunk = {
  choices?: { delta?: Delta; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
};

/** Never let a key reach a log line, a progress frame or a fail message. */
export function redact(text: string, profile: ResolvedProfile) {
  return profile.apiKey ? text.split(profile.apiKey).join("[redacted]") : text;
}

/** Yields the `data:` payloads of a server-sent event stream. */
async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    let newline = buffer.indexOf("\n");
    while (newline >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (data.length) yield data.join("\n");
        data = [];
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).trimStart());
      }
      newline = buffer.indexOf("\n");
    }
  }
  if (data.length) yield data.join("\n");
}

/**
 * One streamed `/chat/completions` call against an OpenAI-compatible endpoint: text and
 * reasoning deltas go to the callbacks as they arrive, tool calls are assembled by index.
 */
export async function streamChat(options: {
  profile: ResolvedProfile;
  messages: ChatMessage[];
  tools: ToolSpec[];
  signal: AbortSignal;
  onText?: (delta: string) => void;
  onReasoning?: (delta: string) => void;
  fetchImpl?: typeof fetch;
  timeoutMs?: number;
}): Promise<ChatTurn> {
  const { profile } = options;
  const url = `${profile.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  const headers: Record<string, string> = { "content-type": "application/json", accept: "text/event-stream" };
  if (profile.apiKey) headers.authorization = `Bearer ${profile.apiKey}`;
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs ?? 300_000)]);
  let response: Response;
  try {
    response = await (options.fetchImpl ?? fetch)(url, {
      method: "POST",
      headers,
      signal,
      body: JSON.stringify({
        model: profile.model,
        messages: options.messages,
        tools: options.tools,
        stream: true,
        stream_options: { include_usage: true },
        ...(profile.temperature !== undefined ? { temperature: profile.temperature } : {}),
        ...(profile.maxTokens !== undefined ? { max_tokens: profile.maxTokens } : {}),
      }),
    });
  } catch (error) {
    throw new ModelError(redact(`model ${profile.name} unreachable: ${(error as Error).message}`, profile));
  }
  if (!response.ok || !response.body) {
    const text = (await response.text().catch(() => "")).slice(0, 500);
    throw new ModelError(redact(`model ${profile.name} answered ${response.status}: ${text}`, profile));
  }
  const turn: ChatTurn = {
    content: "",
    toolCalls: [],
    finishReason: null,
    usage: { inputTokens: 0, outputTokens: 0 },
  };
  const calls: { id: string; name: string; arguments: string }[] = [];
  for await (const data of readSse(response.body)) {
    if (data === "[DONE]") break;
    let chunk: Chunk;
    try {
      chunk = JSON.parse(data) as Chunk;
    } catch {
      continue; // keep-alive comments and junk lines are not fatal
    }
    if (chunk.usage) {
      turn.usage.inputTokens += chunk.usage.prompt_tokens ?? 0;
      turn.usage.outputTokens += chunk.usage.completion_tokens ?? 0;
    }
    const choice = chunk.choices?.[0];
    if (!choice) continue;
    const delta = choice.delta ?? {};
    if (delta.content) {
      turn.content += delta.content;
      options.onText?.(delta.content);
    }
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (reasoning) options.onReasoning?.(reasoning);
    for (const call of delta.tool_calls ?? []) {
      const index = call.index ?? calls.length;
      calls[index] ??= { id: "", name: "", arguments: "" };
      const slot = calls[index]!;
      if (call.id) slot.id = call.id;
      if (call.function?.name) slot.name += call.function.name;
      if (call.function?.arguments) slot.arguments += call.function.arguments;
    }
    if (choice.finish_reason) turn.finishReason = choice.finish_reason;
  }
  turn.toolCalls = calls
    .filter((c) => c?.name)
    .map((c, i) => ({
      id: c.id || `call_${i}`,
      type: "function",
      function: { name: c.name, arguments: c.arguments || "{}" },
    }));
  return turn;
}
