import { randomUUID } from "node:crypto";
import type {
  AckFrame,
  ErrorFrame,
  LeaseRef,
  OfferFrame,
  RobotServerFrame,
  WelcomeFrame,
} from "@perseus/contracts";
import { WebSocket } from "ws";

type AnyFrame = RobotServerFrame | (Record<string, unknown> & { type: string });

/**
 * A robot as the tests play it: a real `ws` client outside the service, with helpers to
 * send frames and wait for what the gateway answers.
 */
export class TestRobot {
  readonly frames: AnyFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private listeners = new Set<() => void>();
  /** Leases this robot believes it holds; sent with every heartbeat. */
  readonly leases = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | undefined;

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data) => {
      try {
        const frame = JSON.parse(data.toString()) as AnyFrame;
        if (frame.type === "lease_lost") this.leases.delete((frame as { taskId: string }).taskId);
        this.frames.push(frame);
      } catch {
        this.frames.push({ type: "unparsable" });
      }
      for (const listener of this.listeners) listener();
    });
    this.closed = new Promise((resolve) => {
      socket.on("close", (code, reason) => {
        this.pause();
        resolve({ code, reason: reason.toString() });
        for (const listener of this.listeners) listener();
      });
    });
    socket.on("error", () => {});
  }

  static async connect(url: string, token: string, options: { headers?: Record<string, string> } = {}) {
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}`, ...options.headers } });
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
      socket.once("unexpected-response", (_request, response) =>
        reject(new Error(`upgrade refused: ${response.statusCode}`)),
      );
    });
    return new TestRobot(socket);
  }

  /** Connects and completes the handshake. */
  static async online(
    url: string,
    token: string,
    hello: { concurrency?: number; leases?: LeaseRef[] } = {},
  ): Promise<{ robot: TestRobot; welcome: WelcomeFrame }> {
    const robot = await TestRobot.connect(url, token);
    const welcome = await robot.hello(hello);
    return { robot, welcome };
  }

  get isOpen() {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(frame: Record<string, unknown>) {
    this.socket.send(JSON.stringify(frame));
  }

  sendRaw(text: string | Buffer) {
    this.socket.send(text);
  }

  /** The first frame (from now or, with `fromStart`, ever) matching `predicate`. */
  async next<T extends AnyFrame = AnyFrame>(
    predicate: (frame: AnyFrame) => boolean,
    timeoutMs = 5_000,
    fromStart = false,
  ): Promise<T> {
    const start = fromStart ? 0 : this.frames.length;
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const found = this.frames.slice(start).find(predicate);
        if (found) {
          done();
          resolve(found as T);
        } else if (this.socket.readyState === WebSocket.CLOSED) {
          done();
          reject(new Error(`socket closed while waiting; frames: ${JSON.stringify(this.frames.slice(-5))}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `no matching frame within ${timeoutMs} ms; last: ${JSON.stringify(this.frames.slice(-5))}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Sends a frame with a fresh id and waits for the ack or error naming it. */
  async request(frame: Record<string, unknown>, timeoutMs = 5_000): Promise<AckFrame | ErrorFrame> {
    const id = (frame.id as string | undefined) ?? randomUUID();
    const reply = this.next<AckFrame | ErrorFrame>(
      (f) => (f.type === "ack" || f.type === "error") && (f as { ref?: unknown }).ref === id,
      timeoutMs,
      true,
    );
    this.send({ ...frame, id });
    const answer = await reply;
    // A finished lease is not heartbeated any more (a refused write leaves the lease alone).
    const isEnd = ["complete", "fail", "cancelled", "release"].includes(frame.type as string);
    if (isEnd && answer.type === "ack" && this.leases.get(frame.taskId as string) === frame.epoch)
      this.leases.delete(frame.taskId as string);
    return answer;
  }

  async hello(
    options: {
      concurrency?: number;
      leases?: LeaseRef[];
      min?: number;
      max?: number;
      heartbeat?: boolean;
    } = {},
  ) {
    const id = randomUUID();
    const reply = this.next<WelcomeFrame | ErrorFrame>(
      (f) => f.type === "welcome" || (f.type === "error" && (f as { ref?: unknown }).ref === id),
      5_000,
      true,
    );
    this.send({
      type: "hello",
      id,
      protocol: { min: options.min ?? 1, max: options.max ?? 1 },
      agent: { name: "test-robot", version: "0.0.0" },
      capabilities: ["shell"],
      concurrency: options.concurrency ?? 1,
      leases: options.leases ?? [],
    });
    const frame = await reply;
    if (frame.type !== "welcome") throw new Error(`hello refused: ${JSON.stringify(frame)}`);
    for (const { lease } of frame.resumed) this.leases.set(lease.taskId, lease.epoch);
    if (options.heartbeat !== false) this.startHeartbeat(Math.max(20, frame.policy.heartbeatIntervalMs / 2));
    return frame;
  }

  /** Heartbeats every `intervalMs` with the leases it holds, as a live robot does. */
  startHeartbeat(intervalMs: number) {
    this.pause();
    this.heartbeat = setInterval(() => {
      if (!this.isOpen) return;
      const leases = [...this.leases].map(([taskId, epoch]) => ({ taskId, epoch }));
      this.send({ type: "heartbeat", id: randomUUID(), leases });
    }, intervalMs);
  }

  /** Stops heartbeating (a paused or partitioned robot); the socket stays open. */
  pause() {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** An offer (for `taskId`, if given) not consumed by an earlier call; for a task, its latest one. */
  async offer(taskId?: string, timeoutMs = 5_000): Promise<OfferFrame> {
    const isWanted = (f: AnyFrame) =>
      f.type === "offer" &&
      (!taskId || (f as OfferFrame).task.id === taskId) &&
      !this.taken.has((f as OfferFrame).offerId);
    let offer = await this.next<OfferFrame>(isWanted, timeoutMs, true);
    if (taskId) offer = (this.frames.filter(isWanted).at(-1) as OfferFrame | undefined) ?? offer;
    this.taken.add(offer.offerId);
    return offer;
  }
  private taken = new Set<string>();

  async accept(offer: OfferFrame) {
    const reply = await this.request({ type: "accept", taskId: offer.task.id, offerId: offer.offerId });
    if (reply.type !== "ack") throw new Error(`accept refused: ${JSON.stringify(reply)}`);
    const lease = (
      reply.result as { lease: { taskId: string; epoch: number; expiresAt: string; taskToken: string } }
    ).lease;
    this.leases.set(lease.taskId, lease.epoch);
    return lease;
  }

  close(code = 1000) {
    this.pause();
    this.socket.close(code);
    return this.closed;
  }

  terminate() {
    this.pause();
    this.socket.terminate();
  }
}
