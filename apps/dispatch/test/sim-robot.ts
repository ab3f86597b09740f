import { randomUUID } from "node:crypto";
import type { OfferFrame, RobotServerFrame, WelcomeFrame } from "@perseus/contracts";
import { WebSocket } from "ws";

type Pending = { frame: Record<string, unknown>; onAck: (result: Record<string, unknown>) => void };

/**
 * A robot that behaves like the reference client under faults: it reconnects with backoff,
 * resumes its leases in hello, keeps unacknowledged side-effecting frames (accept, complete)
 * in a local outbox and replays them after reconnecting. It records what it executed, so a
 * test can count executions per task.
 */
export class SimRobot {
  /** Task id → how many times this robot started executing it. */
  readonly executions = new Map<string, number>();
  readonly closeCodes: number[] = [];
  readonly welcomes: WelcomeFrame[] = [];
  private readonly leases = new Map<string, number>();
  private readonly outbox = new Map<string, Pending>();
  private socket: WebSocket | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private isStopped = false;
  private connects = 0;

  constructor(
    private readonly options: {
      url: string;
      token: () => Promise<string>;
      concurrency: number;
      /** How long one execution takes (ms). */
      workMs: () => number;
      name: string;
    },
  ) {}

  get connectionCount() {
    return this.connects;
  }

  get isConnected() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  start() {
    void this.connect();
  }

  async stop() {
    this.isStopped = true;
    clearInterval(this.heartbeat);
    this.socket?.terminate();
  }

  private send(frame: Record<string, unknown>) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  /** Sends a side-effecting frame now and again after every reconnect, until it is answered. */
  private sendReliably(frame: Record<string, unknown>, onAck: Pending["onAck"]) {
    const id = randomUUID();
    this.outbox.set(id, { frame: { ...frame, id }, onAck });
    this.send({ ...frame, id });
  }

  private async connect(): Promise<void> {
    let failures = 0;
    while (!this.isStopped) {
      try {
        await this.open();
        return;
      } catch {
        failures++;
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 100 * failures)));
      }
    }
  }

  private async open() {
    const socket = new WebSocket(this.options.url, {
      headers: { authorization: `Bearer ${await this.options.token()}` },
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
      socket.once("unexpected-response", () => reject(new Error("upgrade refused")));
    });
    this.socket = socket;
    this.connects++;
    socket.on("error", () => {});
    socket.on("message", (data) => this.onFrame(JSON.parse(data.toString()) as RobotServerFrame));
    socket.on("close", (code) => {
      this.closeCodes.push(code);
      clearInterval(this.heartbeat);
      if (!this.isStopped) setTimeout(() => void this.connect(), 100 + Math.random() * 200);
    });
    this.send({
      type: "hello",
      id: randomUUID(),
      protocol: { min: 1, max: 1 },
      agent: { name: this.options.name, version: "1" },
      capabilities: ["shell"],
      concurrency: this.options.concurrency,
      leases: [...this.leases].map(([taskId, epoch]) => ({ taskId, epoch })),
    });
  }

  private onFrame(frame: RobotServerFrame) {
    switch (frame.type) {
      case "welcome": {
        this.welcomes.push(frame);
        for (const lost of frame.lost) this.leases.delete(lost.taskId);
        for (const { lease } of frame.resumed) this.leases.set(lease.taskId, lease.epoch);
        // Replay what was never answered (accepts, results), in the order it was sent.
        for (const pending of this.outbox.values()) this.send(pending.frame);
        clearInterval(this.heartbeat);
        this.heartbeat = setInterval(
          () => {
            const leases = [...this.leases].map(([taskId, epoch]) => ({ taskId, epoch }));
            this.send({ type: "heartbeat", id: randomUUID(), leases });
          },
          Math.max(50, frame.policy.heartbeatIntervalMs / 2),
        );
        return;
      }
      case "offer":
        return this.onOffer(frame);
      case "ack":
      case "error": {
        const pending = frame.ref ? this.outbox.get(frame.ref) : undefined;
        if (!pending || !frame.ref) return;
        if (frame.type === "error" && frame.code === "internal") {
          // The server could not handle it now (its database is away): same frame, a bit later.
          const ref = frame.ref;
          setTimeout(() => {
            const again = this.outbox.get(ref);
            if (again) this.send(again.frame);
          }, 200);
          return;
        }
        this.outbox.delete(frame.ref);
        if (frame.type === "ack") pending.onAck(frame.result);
        else pending.onAck({ error: frame.code });
        return;
      }
      case "lease_lost":
        this.leases.delete(frame.taskId);
        return;
      default:
        return;
    }
  }

  private onOffer(offer: OfferFrame) {
    const taskId = offer.task.id;
    if (this.leases.has(taskId)) return;
    this.sendReliably({ type: "accept", taskId, offerId: offer.offerId }, (result) => {
      const lease = (result as { lease?: { epoch: number } }).lease;
      if (!lease || this.leases.has(taskId)) return;
      this.leases.set(taskId, lease.epoch);
      this.execute(taskId, lease.epoch);
    });
  }

  private execute(taskId: string, epoch: number) {
    this.executions.set(taskId, (this.executions.get(taskId) ?? 0) + 1);
    setTimeout(() => {
      // Work continues while disconnected; the result waits in the outbox.
      this.send({
        type: "progress",
        id: randomUUID(),
        taskId,
        epoch,
        seq: 1,
        kind: "status",
        data: "working",
      });
      this.sendReliably(
        {
          type: "complete",
          taskId,
          epoch,
          idempotencyKey: `done-${taskId}-${epoch}`,
          result: { text: `done by ${this.options.name}` },
        },
        () => this.leases.delete(taskId),
      );
    }, this.options.workMs());
  }
}
