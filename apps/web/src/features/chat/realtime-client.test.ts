import { describe, expect, it } from "vitest";
import { createRealtimeClient, type RealtimeState, type SocketLike } from "./realtime-client.js";

const GROUP = "00000000-0000-4000-8000-000000000003";

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: unknown[] = [];
  onopen: SocketLike["onopen"] = null;
  onclose: SocketLike["onclose"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onerror: SocketLike["onerror"] = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}

function setup() {
  const sockets: FakeSocket[] = [];
  const timers: { callback: () => void; ms: number }[] = [];
  const states: RealtimeState[] = [];
  const frames: unknown[] = [];
  let held = 7;
  let tickets = 0;
  const client = createRealtimeClient({
    getTicket: async () => ({ ticket: `t${++tickets}`, url: "/api/chat/realtime" }),
    openSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    onFrame: (frame) => frames.push(frame),
    onState: (state) => states.push(state),
    resumeFrom: () => held,
    setTimer: (callback, ms) => timers.push({ callback, ms }),
    clearTimer: () => {},
    random: () => 0.5,
  });
  return { client, sockets, timers, states, frames, setHeld: (seq: number) => (held = seq) };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("realtime client", () => {
  it("opens with a fresh ticket and subscribes from the held seq", async () => {
    const { client, sockets } = setup();
    client.subscribe(GROUP);
    client.start();
    await tick();
    expect(sockets[0]?.url).toBe("/api/chat/realtime?ticket=t1");
    sockets[0]?.open();
    expect(sockets[0]?.sent).toEqual([{ type: "subscribe", chatgroupId: GROUP, afterSeq: 7 }]);
  });

  it("reconnects after a drop with a new ticket and resumes after the last seq it holds", async () => {
    const { client, sockets, timers, states, setHeld } = setup();
    client.subscribe(GROUP);
    client.start();
    await tick();
    sockets[0]?.open();
    setHeld(12);
    sockets[0]?.close(1006);
    expect(states.at(-1)).toBe("reconnecting");
    const retry = timers.find((timer) => timer.ms < 1_000);
    retry?.callback();
    await tick();
    expect(sockets[1]?.url).toBe("/api/chat/realtime?ticket=t2");
    sockets[1]?.open();
    expect(sockets[1]?.sent).toEqual([{ type: "subscribe", chatgroupId: GROUP, afterSeq: 12 }]);
    expect(states.at(-1)).toBe("open");
  });

  it("passes valid frames on, drops malformed ones, and stops on revocation", async () => {
    const { client, sockets, states, frames } = setup();
    client.start();
    await tick();
    sockets[0]?.open();
    sockets[0]?.receive({ type: "reload_required", chatgroupId: GROUP, lastSeq: 40 });
    sockets[0]?.receive({ type: "message", chatgroupId: GROUP });
    expect(frames).toEqual([{ type: "reload_required", chatgroupId: GROUP, lastSeq: 40 }]);
    sockets[0]?.close(4001);
    expect(states.at(-1)).toBe("revoked");
    expect(sockets).toHaveLength(1);
  });
});
