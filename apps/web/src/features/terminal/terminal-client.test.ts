// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { bytesToBase64, utf8 } from "./terminal-bytes.js";
import {
  createTerminalClient,
  RESIZE_DEBOUNCE_MS,
  type SocketLike,
  type TerminalConnectionState,
  type TerminalEnding,
} from "./terminal-client.js";

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: { type: string; [key: string]: unknown }[] = [];
  closedWith: number | undefined;
  onopen: SocketLike["onopen"] = null;
  onclose: SocketLike["onclose"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onerror: SocketLike["onerror"] = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    this.closedWith = code;
    this.readyState = 3;
    this.onclose?.({ code });
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(frame: unknown) {
    this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
  }
}

const b64 = (text: string) => bytesToBase64(utf8(text));
const decode = (data: unknown) =>
  new TextDecoder().decode(Uint8Array.from(atob(String(data)), (char) => char.charCodeAt(0)));
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A screen that keeps what a terminal would show: text since the last reset. */
function recordingScreen() {
  const decoder = new TextDecoder();
  const screen = { text: "", resets: 0 };
  return {
    screen,
    sink: {
      reset() {
        screen.resets += 1;
        screen.text = "";
      },
      write(bytes: Uint8Array) {
        screen.text += decoder.decode(bytes);
      },
    },
  };
}

function setup(options: { ticketErrors?: unknown[] } = {}) {
  const sockets: FakeSocket[] = [];
  const timers: { callback: () => void; ms: number; cleared: boolean }[] = [];
  const states: TerminalConnectionState[] = [];
  const writers: boolean[] = [];
  const notices: string[] = [];
  const endings: TerminalEnding[] = [];
  const ticketErrors = [...(options.ticketErrors ?? [])];
  const { screen, sink } = recordingScreen();
  let tickets = 0;
  const client = createTerminalClient({
    getTicket: async () => {
      const error = ticketErrors.shift();
      if (error) throw error;
      tickets += 1;
      return { ticket: `t${tickets}`, url: "/api/dispatch/terminals/abc/attach" };
    },
    openSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    screen: sink,
    onState: (state) => states.push(state),
    onWriter: (writer) => writers.push(writer),
    onNotice: (text) => notices.push(text),
    onEnded: (ending) => endings.push(ending),
    isFinalError: (error) => error === "gone",
    setTimer: (callback, ms) => {
      const timer = { callback, ms, cleared: false };
      timers.push(timer);
      return timer;
    },
    clearTimer: (handle) => {
      (handle as { cleared: boolean }).cleared = true;
    },
    random: () => 0.5,
  });
  const runTimers = (predicate: (ms: number) => boolean) => {
    for (const timer of timers.splice(0)) {
      if (!timer.cleared && predicate(timer.ms)) timer.callback();
      else if (!timer.cleared) timers.push(timer);
    }
  };
  return { client, sockets, timers, states, writers, notices, endings, screen, runTimers };
}

async function attached(harness: ReturnType<typeof setup>, index: number) {
  await tick();
  const socket = harness.sockets[index];
  if (!socket) throw new Error(`socket ${index} was not opened`);
  socket.open();
  return socket;
}

describe("terminal client", () => {
  it("attaches with a fresh ticket, paints the snapshot after a reset, then appends output", async () => {
    const harness = setup();
    harness.client.start();
    const socket = await attached(harness, 0);
    expect(socket.url).toBe("/api/dispatch/terminals/abc/attach?ticket=t1");
    expect(harness.states).toEqual(["connecting"]);

    socket.receive({ type: "snapshot", data: b64("$ ") });
    expect(harness.states).toEqual(["connecting", "open"]);
    socket.receive({ type: "role", writer: true });
    socket.receive({ type: "output", data: b64("echo hi\r\nhi\r\n") });
    socket.receive({ type: "notice", text: "output dropped: you fell behind" });
    expect(harness.screen).toEqual({ text: "$ echo hi\r\nhi\r\n", resets: 1 });
    expect(harness.writers).toEqual([true]);
    expect(harness.notices).toEqual(["output dropped: you fell behind"]);
  });

  it("ignores malformed frames instead of painting them", async () => {
    const harness = setup();
    harness.client.start();
    const socket = await attached(harness, 0);
    socket.receive("not json");
    socket.receive({ type: "output" });
    socket.receive({ type: "bogus", data: b64("x") });
    socket.receive({ type: "output", data: b64("ok") });
    expect(harness.screen.text).toBe("ok");
  });

  it("sends keystrokes as base64 UTF-8 while it is the writer", async () => {
    const harness = setup();
    harness.client.start();
    const socket = await attached(harness, 0);
    socket.receive({ type: "role", writer: true });
    expect(harness.client.input("echo $((6*7))\r")).toBe(true);
    expect(harness.client.input("ü")).toBe(true);
    const inputs = socket.sent.filter((frame) => frame.type === "input");
    expect(inputs.map((frame) => decode(frame.data))).toEqual(["echo $((6*7))\r", "ü"]);
  });

  it("splits a large paste into frames under the size limit", async () => {
    const harness = setup();
    harness.client.start();
    const socket = await attached(harness, 0);
    socket.receive({ type: "role", writer: true });
    const paste = "x".repeat(100_000);
    expect(harness.client.input(paste)).toBe(true);
    const inputs = socket.sent.filter((frame) => frame.type === "input");
    expect(inputs.length).toBeGreaterThan(1);
    for (const frame of inputs) expect(String(frame.data).length).toBeLessThanOrEqual(65_536);
    expect(inputs.map((frame) => decode(frame.data)).join("")).toBe(paste);
  });

  it("blocks input of a read-only viewer and sends it nothing", async () => {
    const harness = setup();
    harness.client.start();
    const socket = await attached(harness, 0);
    socket.receive({ type: "snapshot", data: b64("$ ") });
    socket.receive({ type: "role", writer: false });
    expect(harness.client.input("rm -rf /\r")).toBe(false);
    harness.client.resize(100, 30);
    harness.runTimers((ms) => ms === RESIZE_DEBOUNCE_MS);
    expect(socket.sent).toEqual([]);
    expect(harness.client.isWriter).toBe(false);
  });

  it("debounces resizes and sends only the last size", async () => {
    const harness = setup();
    harness.client.start();
    const socket = await attached(harness, 0);
    socket.receive({ type: "role", writer: true });
    harness.client.resize(90, 20);
    harness.client.resize(100, 25);
    harness.client.resize(120, 30);
    expect(socket.sent).toEqual([]);
    harness.runTimers((ms) => ms === RESIZE_DEBOUNCE_MS);
    expect(socket.sent).toEqual([{ type: "resize", cols: 120, rows: 30 }]);
  });

  it("after a dropped socket attaches again with a new ticket and restores the screen from the snapshot", async () => {
    const harness = setup();
    harness.client.start();
    const first = await attached(harness, 0);
    first.receive({ type: "snapshot", data: b64("$ ") });
    first.receive({ type: "role", writer: true });
    harness.client.resize(120, 30);
    harness.runTimers((ms) => ms === RESIZE_DEBOUNCE_MS);
    first.receive({ type: "output", data: b64("echo $((6*7))\r\n42\r\n$ ") });

    first.close(1006);
    expect(harness.states.at(-1)).toBe("reconnecting");
    expect(harness.writers.at(-1)).toBe(false);
    // Typing is refused while no socket is attached; the old screen stays until the snapshot.
    expect(harness.client.input("x")).toBe(false);
    expect(harness.screen.text).toContain("42");

    harness.runTimers((ms) => ms < 1_000);
    const second = await attached(harness, 1);
    expect(second.url).toBe("/api/dispatch/terminals/abc/attach?ticket=t2");
    second.receive({
      type: "snapshot",
      data: b64("$ echo $((6*7))\r\n42\r\n$ sleep 1; echo later\r\nlater\r\n$ "),
    });
    second.receive({ type: "role", writer: true });
    expect(harness.screen.resets).toBe(2);
    expect(harness.screen.text).toBe("$ echo $((6*7))\r\n42\r\n$ sleep 1; echo later\r\nlater\r\n$ ");
    // The writer re-announces its size on the new socket, then may type again.
    expect(second.sent).toEqual([{ type: "resize", cols: 120, rows: 30 }]);
    expect(harness.client.input("echo again\r")).toBe(true);
    expect(harness.states.at(-1)).toBe("open");
  });

  it("keeps backing off when sockets open but never attach (no snapshot)", async () => {
    const harness = setup();
    harness.client.start();
    const delays: number[] = [];
    for (let index = 0; index < 3; index += 1) {
      const socket = await attached(harness, index);
      socket.close(1011);
      expect(harness.states.at(-1)).toBe("reconnecting");
      delays.push(harness.timers.at(-1)?.ms ?? 0);
      harness.runTimers(() => true);
    }
    expect(delays[1]).toBeGreaterThan(delays[0] ?? 0);
    expect(delays[2]).toBeGreaterThan(delays[1] ?? 0);
    expect(harness.states).not.toContain("open");
  });

  it("backs off further while ticket requests fail, and stops when the session is gone", async () => {
    const harness = setup({ ticketErrors: [new Error("offline"), new Error("offline"), "gone"] });
    harness.client.start();
    await tick();
    expect(harness.states.at(-1)).toBe("reconnecting");
    const firstDelay = harness.timers.at(-1)?.ms ?? 0;
    harness.runTimers(() => true);
    await tick();
    const secondDelay = harness.timers.at(-1)?.ms ?? 0;
    expect(secondDelay).toBeGreaterThan(firstDelay);
    harness.runTimers(() => true);
    await tick();
    expect(harness.states.at(-1)).toBe("ended");
    expect(harness.endings).toEqual([{ exitCode: undefined, reason: null, error: "gone" }]);
    expect(harness.sockets).toHaveLength(0);
    expect(harness.timers.filter((timer) => !timer.cleared)).toHaveLength(0);
  });

  it("ends with the exit code and reason, and does not reconnect after the session closed", async () => {
    const harness = setup();
    harness.client.start();
    const socket = await attached(harness, 0);
    socket.receive({ type: "role", writer: true });
    socket.receive({ type: "output", data: b64("logout\r\n") });
    socket.receive({ type: "exit", code: 3 });
    socket.receive({ type: "closed", reason: "exit" });
    socket.close(1000);
    expect(harness.endings).toEqual([{ exitCode: 3, reason: "exit" }]);
    expect(harness.states.at(-1)).toBe("ended");
    expect(harness.writers.at(-1)).toBe(false);
    expect(harness.timers).toHaveLength(0);
    expect(harness.sockets).toHaveLength(1);
  });

  it("stop closes the socket normally and never reconnects", async () => {
    const harness = setup();
    harness.client.start();
    const socket = await attached(harness, 0);
    harness.client.stop();
    expect(socket.closedWith).toBe(1000);
    expect(harness.timers).toHaveLength(0);
    harness.client.start();
    await tick();
    expect(harness.sockets).toHaveLength(1);
  });
});
