// A simulated robot speaking protocol v1 over a real WebSocket with a real robot token: it
// accepts every offer, completes it at once, keeps unanswered accepts/completes in an outbox
// it replays after a reconnect, and resumes its leases in hello, as the reference client does.
import { randomUUID } from "node:crypto";
import type { OfferFrame, RobotServerFrame } from "@perseus/contracts";
import { WebSocket } from "ws";

export type RobotEvents = {
  offer(prompt: string, taskId: string): void;
  /** A new lease: the robot starts executing (counted per task to find duplicates). */
  accepted(prompt: string, taskId: string): void;
  completed(prompt: string, taskId: string): void;
};

type Pending = { frame: Record<string, unknown>; onAck: (result: Record<string, unknown>) => void };

export class BenchRobot {
  connects = 0;
  private socket: WebSocket | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly leases = new Map<string, number>();
  private readonly prompts = new Map<string, string>();
  private readonly outbox = new Map<string, Pending>();
  private isStopped = false;
  private welcomed: (() => void) | undefined;

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly concurrency: number,
    private readonly events: RobotEvents,
  ) {}

  /** Connects and waits for welcome. */
  async start(): Promise<void> {
    const welcomed = new Promise<void>((resolve) => {
      this.welcomed = resolve;
    });
    await this.connect();
    await welcomed;
  }

  /** Drops the connection without a close handshake (a crash or a network cut); it reconnects. */
  cut() {
    this.socket?.terminate();
  }

  stop() {
    this.isStopped = true;
    clearInterval(this.heartbeat);
    this.socket?.terminate();
  }

  private send(frame: Record<string, unknown>) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  private sendReliably(frame: Record<string, unknown>, onAck: Pending["onAck"]) {
    const id = randomUUID();
    this.outbox.set(id, { frame: { ...frame, id }, onAck });
    this.send({ ...frame, id });
  }

  private async connect(): Promise<void> {
    for (let failures = 0; !this.isStopped; failures++) {
      try {
        await this.open();
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * (failures + 1))));
      }
    }
  }

  private async open() {
    const socket = new WebSocket(this.url, { headers: { authorization: `Bearer ${this.token}` } });
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
      socket.once("unexpected-response", (_req, res) => reject(new Error(`upgrade ${res.statusCode}`)));
    });
    this.socket = socket;
    this.connects++;
    socket.on("error", () => {});
    socket.on("message", (data) => this.onFrame(JSON.parse(data.toString()) as RobotServerFrame));
    socket.on("close", () => {
      clearInterval(this.heartbeat);
      if (!this.isStopped) setTimeout(() => void this.connect(), 100 + Math.random() * 200);
    });
    this.send({
      type: "hello",
      id: randomUUID(),
      protocol: { min: 1, max: 1 },
      agent: { name: "bench-robot", version: "1" },
      capabilities: [],
      concurrency: this.concurrency,
      leases: [...this.leases].map(([taskId, epoch]) => ({ taskId, epoch })),
    });
  }

  private onFrame(frame: RobotServerFrame) {
    if (frame.type === "welcome") {
      for (const lost of frame.lost) this.leases.delete(lost.taskId);
      for (const { lease } of frame.resumed) this.leases.set(lease.taskId, lease.epoch);
      for (const pending of this.outbox.values()) this.send(pending.frame);
      clearInterval(this.heartbeat);
      this.heartbeat = setInterval(() => {
        const leases = [...this.leases].map(([taskId, epoch]) => ({ taskId, epoch }));
        this.send({ type: "heartbeat", id: randomUUID(), leases });
      }, frame.policy.heartbeatIntervalMs / 2);
      this.welcomed?.();
      this.welcomed = undefined;
    } else if (frame.type === "offer") {
      this.onOffer(frame);
    } else if (frame.type === "ack" || frame.type === "error") {
      const pending = frame.ref ? this.outbox.get(frame.ref) : undefined;
      if (!pending || !frame.ref) return;
      if (frame.type === "error" && frame.code === "internal") {
        // The server could not handle it now: the same frame again, a little later.
        setTimeout(() => this.send(pending.frame), 100);
        return;
      }
      this.outbox.delete(frame.ref);
      pending.onAck(frame.type === "ack" ? frame.result : { error: frame.code });
    } else if (frame.type === "lease_lost") {
      this.leases.delete(frame.taskId);
    }
  }

  private onOffer(offer: OfferFrame) {
    const taskId = offer.task.id;
    const prompt = offer.task.prompt;
    this.events.offer(prompt, taskId);
    if (this.leases.has(taskId)) return;
    this.sendReliably({ type: "accept", taskId, offerId: offer.offerId }, (result) => {
      const lease = (result as { lease?: { epoch: number } }).lease;
      if (!lease || this.leases.has(taskId)) return;
      this.leases.set(taskId, lease.epoch);
      this.prompts.set(taskId, prompt);
      this.events.accepted(prompt, taskId);
      this.complete(taskId, lease.epoch);
    });
  }

  private complete(taskId: string, epoch: number) {
    this.sendReliably(
      {
        type: "complete",
        taskId,
        epoch,
        idempotencyKey: `bench-${taskId}-${epoch}`,
        result: { text: "done" },
      },
      (result) => {
        this.leases.delete(taskId);
        if (!("error" in result)) this.events.completed(this.prompts.get(taskId) ?? "", taskId);
        this.prompts.delete(taskId);
      },
    );
  }
}
