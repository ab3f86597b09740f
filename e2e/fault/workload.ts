import { createHash } from "node:crypto";
import WebSocket from "ws";
import { type ApiClient, sleep } from "./api.js";
import type { Journal, TenantKey } from "./journal.js";
import type { Rng } from "./prng.js";

export type Target = { tenant: TenantKey; api: ApiClient; chatgroupId: string };

/** Statuses after which the same request cannot succeed by retrying. */
const isFinal4xx = (status: number) => status >= 400 && status < 500 && status !== 408 && status !== 429;

/**
 * Posts one message, retrying with the same clientKey (the API's idempotency key) for a
 * bounded time: a retry of a post that did land returns the first message, never a second one.
 */
export async function postMessage(
  journal: Journal,
  stream: string,
  target: Target,
  body: string,
  clientKey: string,
  task: boolean,
  giveUpAt: number,
): Promise<void> {
  let attempts = 0;
  let error = "";
  while (true) {
    attempts += 1;
    try {
      const response = await target.api.call("POST", `/api/chat/chatgroups/${target.chatgroupId}/messages`, {
        body: { body, clientKey },
      });
      if (response.status === 200 || response.status === 201) {
        const message = response.json as { id: string; seq: number };
        journal.write({
          op: "post",
          stream,
          tenant: target.tenant,
          chatgroupId: target.chatgroupId,
          clientKey,
          body,
          task,
          attempts,
          ack: true,
          id: message.id,
          seq: message.seq,
        });
        return;
      }
      error = `HTTP ${response.status} ${response.text.slice(0, 200)}`;
      if (isFinal4xx(response.status)) break;
    } catch (caught) {
      error = (caught as Error).message;
    }
    if (Date.now() > giveUpAt) break;
    await sleep(Math.min(500 * attempts, 3_000));
  }
  journal.write({
    op: "post",
    stream,
    tenant: target.tenant,
    chatgroupId: target.chatgroupId,
    clientKey,
    body,
    task,
    attempts,
    ack: false,
    error,
  });
}

export type LoopOptions = { journal: Journal; rng: Rng; seed: number; until: number; canary: string };

/** People chatting: one sequential client posting a few messages a second, tenant B's carrying the canary. */
export async function chatLoop(options: LoopOptions & { targets: Target[]; stream: string }) {
  const { journal, rng, seed, until, canary, targets, stream } = options;
  for (let n = 1; Date.now() < until; n++) {
    const target = rng.pick(targets);
    const body = target.tenant === "B" ? `b ${seed}-${n} ${canary}` : `hello ${seed}-${stream}-${n}`;
    await postMessage(journal, stream, target, body, `${stream}-${seed}-${n}`, false, Date.now() + 30_000);
    await sleep(rng.int(200, 700));
  }
}

/** `@jane echo <marker>` every 1–2 s: each acknowledged one must end as one task with one reply. */
export async function taskLoop(options: LoopOptions & { targets: Target[] }) {
  const { journal, rng, seed, until, targets } = options;
  for (let n = 1; Date.now() < until; n++) {
    const target = rng.pick(targets);
    const marker = `task-${seed}-${n}-${rng.int(100000, 999999)}`;
    await postMessage(
      journal,
      "tasks",
      target,
      `@jane echo ${marker}`,
      `tasks-${seed}-${n}`,
      true,
      Date.now() + 30_000,
    );
    await sleep(rng.int(1_000, 2_000));
  }
}

export type WorkspaceFile = {
  tenant: TenantKey;
  api: ApiClient;
  layer: "tenant" | "chatgroup";
  layerId: string;
  path: string;
};

const unquote = (etag: string) => etag.replace(/^W\//, "").replace(/^"|"$/g, "");

/**
 * Compare-and-set updates of a few files. Each file has one writer, which re-reads the file's
 * ETag whenever an outcome is unknown; a 412 then only means "my unacknowledged write landed".
 */
export async function workspaceLoop(options: LoopOptions & { files: WorkspaceFile[] }) {
  const { journal, rng, seed, until, canary, files } = options;
  const known = new Map<string, string | null | undefined>(); // undefined: unknown; null: no file yet
  for (let n = 1; Date.now() < until; n++) {
    const file = rng.pick(files);
    const key = `${file.layer}/${file.layerId}/${file.path}`;
    const base = `/api/workspace/layers/${file.layer}/${file.layerId}`;
    try {
      if (known.get(key) === undefined) {
        const dir = file.path.split("/").slice(0, -1).join("/");
        const tree = await file.api.call("GET", `${base}/tree?path=${encodeURIComponent(dir)}`);
        if (tree.status === 404) known.set(key, null);
        else if (tree.status === 200) {
          const entries = (tree.json as { entries: { path: string; etag: string }[] }).entries;
          const entry = entries.find((e) => e.path === file.path);
          known.set(key, entry ? unquote(entry.etag) : null);
        } else throw new Error(`tree: HTTP ${tree.status}`);
      }
      const etag = known.get(key) ?? null;
      const content = `${file.path} ${seed}-${n}${file.tenant === "B" ? ` ${canary}` : ""}\n`;
      const sha256 = createHash("sha256").update(content).digest("hex");
      const common = {
        tenant: file.tenant,
        layer: file.layer,
        layerId: file.layerId,
        path: file.path,
        sha256,
        ifMatch: etag,
      };
      let response: Awaited<ReturnType<ApiClient["call"]>> | undefined;
      let error = "";
      try {
        response = await file.api.call("PUT", `${base}/files?path=${encodeURIComponent(file.path)}`, {
          raw: content,
          headers: etag ? { "if-match": `"${etag}"` } : { "if-none-match": "*" },
        });
      } catch (caught) {
        error = (caught as Error).message;
      }
      if (response && (response.status === 200 || response.status === 201)) {
        const entry = response.json as { version: number; etag: string };
        known.set(key, unquote(entry.etag));
        journal.write({
          op: "write",
          ...common,
          ack: true,
          version: entry.version,
          etag: unquote(entry.etag),
        });
      } else {
        known.set(key, undefined);
        journal.write({
          op: "write",
          ...common,
          ack: false,
          error: response ? `HTTP ${response.status} ${response.text.slice(0, 200)}` : error,
        });
      }
    } catch {
      known.set(key, undefined);
    }
    await sleep(rng.int(500, 1_500));
  }
}

type Frame = {
  type: string;
  chatgroupId?: string;
  lastSeq?: number;
  message?: { id: string; seq: number };
  code?: string;
  /** An error frame's `message`, moved here (the field name clashes with a message frame's). */
  text?: string;
};

/**
 * A person's browser tab: one socket subscribed to some chatgroups, recording every message
 * it gets. It reconnects with `afterSeq` = the last seq it holds, repairs a seq gap from the
 * REST history (journalled as a gap) and loads history on `reload_required`.
 */
export function startRealtimeReader(options: { journal: Journal; api: ApiClient; chatgroupIds: string[] }) {
  const { journal, api, chatgroupIds } = options;
  const last = new Map(chatgroupIds.map((id) => [id, 0]));
  let stopped = false;
  let socket: WebSocket | undefined;
  let chain = Promise.resolve();

  const accept = (chatgroupId: string, message: { id: string; seq: number }, via: "socket" | "repair") => {
    journal.write({ op: "rt", chatgroupId, seq: message.seq, id: message.id, via });
    last.set(chatgroupId, Math.max(last.get(chatgroupId) ?? 0, message.seq));
  };

  /** Fetches (after, upTo] over REST, retrying until it has them or the reader stops. */
  const repair = async (chatgroupId: string, upTo: number) => {
    while (!stopped && (last.get(chatgroupId) ?? 0) < upTo) {
      const after = last.get(chatgroupId) ?? 0;
      try {
        const page = await api.call(
          "GET",
          `/api/chat/chatgroups/${chatgroupId}/messages?after=${after}&limit=200`,
        );
        if (page.status !== 200) throw new Error(`HTTP ${page.status}`);
        const items = (page.json as { items: { id: string; seq: number }[] }).items;
        for (const message of items)
          if (message.seq > after && message.seq <= upTo) accept(chatgroupId, message, "repair");
        if (items.length === 0) break;
      } catch {
        await sleep(500);
      }
    }
  };

  const handle = async (frame: Frame) => {
    const chatgroupId = frame.chatgroupId;
    if (frame.type === "error" && !chatgroupId)
      journal.write({ op: "rt-event", kind: "error", detail: `${frame.code}: ${frame.text}` });
    if (!chatgroupId || !last.has(chatgroupId)) return;
    if (frame.type === "message" && frame.message) {
      const held = last.get(chatgroupId) ?? 0;
      if (frame.message.seq > held + 1) {
        journal.write({
          op: "rt-event",
          kind: "gap",
          chatgroupId,
          detail: `held ${held}, got ${frame.message.seq}`,
        });
        await repair(chatgroupId, frame.message.seq - 1);
      }
      // Recorded even when not new: the checker counts it as a duplicate or reorder.
      journal.write({ op: "rt", chatgroupId, seq: frame.message.seq, id: frame.message.id, via: "socket" });
      last.set(chatgroupId, Math.max(last.get(chatgroupId) ?? 0, frame.message.seq));
    } else if (frame.type === "reload_required") {
      journal.write({
        op: "rt-event",
        kind: "reload_required",
        chatgroupId,
        detail: `lastSeq ${frame.lastSeq}`,
      });
      await repair(chatgroupId, frame.lastSeq ?? 0);
    } else if (frame.type === "subscribed") {
      journal.write({ op: "rt-event", kind: "subscribed", chatgroupId, detail: `lastSeq ${frame.lastSeq}` });
    } else if (frame.type === "error") {
      // A subscribe the hub could not serve (its database or Redis failing): ask again shortly,
      // from what we hold, as a browser tab would.
      journal.write({ op: "rt-event", kind: "error", chatgroupId, detail: `${frame.code}: ${frame.text}` });
      const ws = socket;
      setTimeout(() => {
        if (!stopped && ws === socket && ws?.readyState === WebSocket.OPEN)
          ws.send(JSON.stringify({ type: "subscribe", chatgroupId, afterSeq: last.get(chatgroupId) ?? 0 }));
      }, 1_000);
    }
  };

  const connect = async () => {
    while (!stopped) {
      try {
        const ticket = await api.call("POST", "/api/chat/realtime/tickets");
        if (ticket.status !== 200 && ticket.status !== 201) throw new Error(`ticket: HTTP ${ticket.status}`);
        const { ticket: value, url } = ticket.json as { ticket: string; url: string };
        const ws = new WebSocket(`${api.baseUrl.replace(/^http/, "ws")}${url}?ticket=${value}`, {
          origin: api.baseUrl,
        });
        await new Promise<void>((resolve, reject) => {
          ws.once("open", resolve);
          ws.once("error", reject);
          setTimeout(() => reject(new Error("open timed out")), 10_000);
        });
        socket = ws;
        journal.write({ op: "rt-event", kind: "connected" });
        ws.on("error", () => {});
        ws.on("message", (data) => {
          const frame = JSON.parse(String(data)) as Frame;
          if (frame.type === "error") frame.text = String((frame as { message?: unknown }).message ?? "");
          chain = chain.then(() => handle(frame)).catch(() => {});
        });
        const closed = new Promise<void>((resolve) =>
          ws.once("close", (code) => {
            journal.write({ op: "rt-event", kind: "closed", detail: `code ${code}` });
            resolve();
          }),
        );
        // Frames of the previous socket (a repair in progress) settle first, so afterSeq is current.
        await chain;
        for (const chatgroupId of chatgroupIds)
          ws.send(JSON.stringify({ type: "subscribe", chatgroupId, afterSeq: last.get(chatgroupId) ?? 0 }));
        // A socket that stops answering pings is treated as dead (a paused hub, a blackholed edge).
        const pinger = setInterval(() => {
          if (ws.readyState === WebSocket.OPEN) ws.ping();
        }, 5_000);
        let alive = true;
        ws.on("pong", () => {
          alive = true;
        });
        const watchdog = setInterval(() => {
          if (!alive) ws.terminate();
          alive = false;
        }, 20_000);
        await closed;
        clearInterval(pinger);
        clearInterval(watchdog);
      } catch (caught) {
        journal.write({ op: "rt-event", kind: "error", detail: (caught as Error).message });
      }
      socket = undefined;
      if (!stopped) await sleep(500);
    }
  };
  const running = connect();

  return {
    lastSeqs: () => new Map(last),
    /** Processing of frames received so far has finished. */
    settled: () => chain,
    async stop() {
      stopped = true;
      socket?.close();
      await running;
      await chain;
    },
  };
}
