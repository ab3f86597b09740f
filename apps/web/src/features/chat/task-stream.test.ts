import type { RealtimeTaskProgressFrame, RealtimeTaskStatusFrame, TaskDetail } from "@perseus/contracts";
import { describe, expect, it } from "vitest";
import {
  applyProgress,
  applyStatus,
  assemble,
  chipOf,
  mergeDetail,
  type TaskStream,
  taskViewsByMessage,
} from "./task-stream.js";

const TASK = "00000000-0000-4000-8000-000000000001";
const ROBOT = "00000000-0000-4000-8000-000000000002";
const GROUP = "00000000-0000-4000-8000-000000000003";
const MESSAGE = "00000000-0000-4000-8000-000000000004";

const status = (value: RealtimeTaskStatusFrame["status"], attempt: number, error: string | null = null) =>
  ({
    type: "task_status",
    chatgroupId: GROUP,
    taskId: TASK,
    robotId: ROBOT,
    messageId: MESSAGE,
    status: value,
    attempt,
    error,
  }) satisfies RealtimeTaskStatusFrame;

const progress = (seq: number, data: string, kind: RealtimeTaskProgressFrame["kind"] = "text") =>
  ({
    type: "task_progress",
    chatgroupId: GROUP,
    taskId: TASK,
    robotId: ROBOT,
    seq,
    kind,
    data,
  }) satisfies RealtimeTaskProgressFrame;

function run(frames: (RealtimeTaskStatusFrame | RealtimeTaskProgressFrame)[]): TaskStream | undefined {
  let stream: TaskStream | undefined;
  for (const frame of frames)
    stream = frame.type === "task_status" ? applyStatus(stream, frame) : applyProgress(stream, frame);
  return stream;
}

describe("streaming reply assembly", () => {
  it("joins text deltas in seq order, whatever order they arrive in", () => {
    const stream = run([status("running", 1), progress(2, "lo, "), progress(1, "Hel"), progress(3, "world")]);
    if (!stream) throw new Error("no stream");
    expect(assemble(stream).text).toBe("Hello, world");
    expect(assemble(stream).missing).toEqual([]);
  });

  it("keeps a repeated seq once", () => {
    const stream = run([progress(1, "a"), progress(1, "a"), progress(2, "b")]);
    expect(stream && assemble(stream).text).toBe("ab");
  });

  it("reports holes so the stored progress log can fill them", () => {
    const stream = run([status("running", 1), progress(1, "a"), progress(4, "d")]);
    expect(stream && assemble(stream).missing).toEqual([2, 3]);
  });

  it("separates reasoning, tool calls, output and status notes from the reply", () => {
    const stream = run([
      progress(1, "thinking", "reasoning"),
      progress(2, "read_file docs/a.md", "tool_call"),
      progress(3, "$ ls\n", "stdout"),
      progress(4, "escalating", "status"),
      progress(5, "Done."),
    ]);
    if (!stream) throw new Error("no stream");
    expect(assemble(stream)).toEqual({
      text: "Done.",
      reasoning: "thinking",
      tools: ["read_file docs/a.md"],
      output: "$ ls\n",
      note: "escalating",
      missing: [],
    });
    expect(stream.status).toBe("running");
  });

  it("starts over on a new attempt and ignores late frames of the old one", () => {
    const stream = run([
      status("running", 1),
      progress(1, "first try"),
      status("queued", 2),
      status("running", 1),
      progress(1, "second "),
      progress(2, "try"),
    ]);
    if (!stream) throw new Error("no stream");
    expect(stream.attempt).toBe(2);
    expect(stream.status).toBe("running");
    expect(assemble(stream).text).toBe("second try");
  });

  it("restarts after a retry of a finished task, and ignores progress after the end", () => {
    const failed = run([
      status("running", 3),
      progress(1, "x"),
      status("failed", 3, "boom"),
      progress(2, "late"),
    ]);
    expect(failed && assemble(failed).text).toBe("x");
    const retried = failed && applyStatus(failed, status("queued", 0));
    expect(retried?.status).toBe("queued");
    expect(retried && assemble(retried).text).toBe("");
  });

  it("fills from the stored task detail of the current lease epoch", () => {
    const live = run([status("running", 2), progress(3, "C")]);
    const detail = {
      id: TASK,
      robotId: ROBOT,
      messageId: MESSAGE,
      status: "running",
      attempt: 2,
      leaseEpoch: 7,
      error: null,
      progress: [
        { epoch: 6, seq: 1, kind: "text", data: "old", createdAt: "2026-01-01T00:00:00.000Z" },
        { epoch: 7, seq: 1, kind: "text", data: "A", createdAt: "2026-01-01T00:00:00.000Z" },
        { epoch: 7, seq: 2, kind: "text", data: "B", createdAt: "2026-01-01T00:00:00.000Z" },
      ],
    } as unknown as TaskDetail;
    const merged = mergeDetail(live, detail);
    expect(assemble(merged).text).toBe("ABC");
    expect(merged.statusKnown).toBe(true);
  });
});

describe("task chips", () => {
  it("maps every status to one of four chips", () => {
    expect(
      ["queued", "offered", "running", "succeeded", "failed", "cancelled", "dead"].map((s) =>
        chipOf(s as never),
      ),
    ).toEqual(["queued", "queued", "running", "done", "failed", "failed", "failed"]);
  });

  it("groups tasks by the message that started them, live state over listed state", () => {
    const task = { id: TASK, robotId: ROBOT, messageId: MESSAGE, status: "queued" as const, error: null };
    const listed = [task];
    const live = new Map([[TASK, run([status("running", 1), progress(1, "Hi")]) as TaskStream]]);
    const views = taskViewsByMessage(listed, live).get(MESSAGE);
    expect(views?.map((view) => [view.status, view.assembled.text])).toEqual([["running", "Hi"]]);
    const finished = [{ ...task, status: "succeeded" as const }];
    const progressOnly = new Map([[TASK, run([progress(1, "Hi")]) as TaskStream]]);
    expect(taskViewsByMessage(finished, progressOnly).get(MESSAGE)?.[0]?.status).toBe("succeeded");
  });
});
