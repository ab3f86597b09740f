import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One scripted answer: text, or tool calls (arguments as an object or a raw string). */
export type Turn = {
  text?: string;
  reasoning?: string;
  toolCalls?: { name: string; arguments: unknown }[];
  status?: number;
  /** Token counts this turn reports (default 10 prompt, 5 completion). */
  usage?: { prompt: number; completion: number };
};

export type ModelRequest = {
  model: string;
  authorization: string | undefined;
  messages: { role: string; content: string | null; tool_call_id?: string }[];
  stream: boolean;
  tools: { function: { name: string } }[];
};

async function readBody(request: IncomingMessage) {
  let body = "";
  for await (const chunk of request) body += chunk;
  return body;
}

/**
 * An OpenAI-compatible `/v1/chat/completions` stub that always obeys its script: the
 * stand-in for a model under prompt injection. It streams SSE like the real thing
 * (deltas split across events, tool-call arguments in pieces). Scripts are per model name.
 */
export async function startFakeModel(scripts: Record<string, Turn[]>) {
  const requests: ModelRequest[] = [];
  const server: Server = createServer(async (request, response) => {
    if (request.method !== "POST" || !request.url?.endsWith("/chat/completions")) {
      response.writeHead(404).end();
      return;
    }
    const body = JSON.parse(await readBody(request)) as ModelRequest;
    requests.push({ ...body, authorization: request.headers.authorization });
    const turn = scripts[body.model]?.shift() ?? { text: "(script exhausted)" };
    if (turn.status) {
      response.writeHead(turn.status, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { message: `rejected key ${request.headers.authorization}` } }));
      return;
    }
    response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const send = (data: unknown) => response.write(`data: ${JSON.stringify(data)}\n\n`);
    const choice = (delta: unknown, finish: string | null = null) =>
      send({
        id: "c1",
        object: "chat.completion.chunk",
        choices: [{ index: 0, delta, finish_reason: finish }],
      });
    if (turn.reasoning) choice({ reasoning_content: turn.reasoning });
    if (turn.text) for (const piece of turn.text.match(/.{1,5}/gs) ?? []) choice({ content: piece });
    (turn.toolCalls ?? []).forEach((call, index) => {
      const args = typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments);
      const half = Math.ceil(args.length / 2);
      choice({
        tool_calls: [
          {
            index,
            id: `call_${requests.length}_${index}`,
            type: "function",
            function: { name: call.name, arguments: args.slice(0, half) },
          },
        ],
      });
      choice({ tool_calls: [{ index, function: { arguments: args.slice(half) } }] });
    });
    choice({}, turn.toolCalls?.length ? "tool_calls" : "stop");
    send({
      id: "c1",
      object: "chat.completion.chunk",
      choices: [],
      usage: { prompt_tokens: turn.usage?.prompt ?? 10, completion_tokens: turn.usage?.completion ?? 5 },
    });
    response.end("data: [DONE]\n\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A loopback HTTP server that counts every request: exfiltration must never reach it. */
export async function startCanary() {
  let hits = 0;
  const server = createServer((_request, response) => {
    hits++;
    response.end("canary");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get hits() {
      return hits;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
