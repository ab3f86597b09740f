import type {
  ProgressKind,
  RealtimeTaskProgressFrame,
  RealtimeTaskStatusFrame,
  TaskDetail,
  TaskStatus,
} from "@perseus/contracts";

/** The four states people see on a task chip. */
export type TaskChip = "queued" | "running" | "done" | "failed";

export function chipOf(status: TaskStatus): TaskChip {
  if (status === "queued" || status === "offered") return "queued";
  if (status === "running") return "running";
  if (status === "succeeded") return "done";
  return "failed";
}

export function isFinished(status: TaskStatus): boolean {
  return status === "succeeded" || status === "failed" || status === "cancelled" || status === "dead";
}

/** A robot's task as the chat follows it live: status plus the progress of its current attempt. */
export type TaskStream = {
  taskId: string;
  robotId: string;
  /** The message that invoked the robot. */
  messageId: string | null;
  status: TaskStatus;
  attempt: number;
  error: string | null;
  /** A status came from a status frame or the stored task (not only inferred from progress). */
  statusKnown: boolean;
  /** Progress of the current attempt by seq (a repeated seq is a duplicate). */
  parts: ReadonlyMap<number, { kind: ProgressKind; data: string }>;
};

export type AssembledTask = {
  /** The reply so far: every `text` delta in seq order. */
  text: string;
  reasoning: string;
  tools: string[];
  output: string;
  /** The latest `status` line (e.g. an escalation note). */
  note: string | null;
  /** Seqs below the highest one that have not arrived: the stream has a hole to fill. */
  missing: number[];
};

export function emptyStream(frame: Pick<TaskStream, "taskId" | "robotId"> & Partial<TaskStream>): TaskStream {
  return {
    messageId: null,
    status: "queued",
    attempt: 0,
    error: null,
    statusKnown: false,
    parts: new Map(),
    ...frame,
  };
}

/**
 * A status frame. Another attempt starts with no progress (its seqs restart at 1); an
 * older attempt's late frame is ignored unless the task had finished (a retry restarts it).
 */
export function applyStatus(current: TaskStream | undefined, frame: RealtimeTaskStatusFrame): TaskStream {
  const base = current ?? emptyStream({ taskId: frame.taskId, robotId: frame.robotId });
  if (frame.attempt < base.attempt && !isFinished(base.status)) return base;
  const otherAttempt = frame.attempt !== base.attempt && base.attempt > 0;
  return {
    ...base,
    messageId: frame.messageId ?? base.messageId,
    status: frame.status,
    statusKnown: true,
    attempt: frame.attempt,
    error: frame.error,
    parts: otherAttempt ? new Map() : base.parts,
  };
}

/** A progress frame, kept once per seq; progress after the task finished is ignored. */
export function applyProgress(current: TaskStream | undefined, frame: RealtimeTaskProgressFrame): TaskStream {
  const base = current ?? emptyStream({ taskId: frame.taskId, robotId: frame.robotId, status: "running" });
  if (base.parts.has(frame.seq) || isFinished(base.status)) return base;
  const parts = new Map(base.parts);
  parts.set(frame.seq, { kind: frame.kind, data: frame.data });
  const status = base.status === "queued" || base.status === "offered" ? "running" : base.status;
  return { ...base, status, parts };
}

/** Fills a stream from the task's stored progress log (for a page opened mid-task or a hole). */
export function mergeDetail(current: TaskStream | undefined, detail: TaskDetail): TaskStream {
  const base = current ?? emptyStream({ taskId: detail.id, robotId: detail.robotId });
  const sameAttempt = base.attempt === 0 || base.attempt === detail.attempt;
  const parts = new Map(sameAttempt ? base.parts : []);
  for (const entry of detail.progress) {
    if (entry.epoch === detail.leaseEpoch && !parts.has(entry.seq)) parts.set(entry.seq, entry);
  }
  // A live frame newer than the stored row wins; the stored one fills what the socket missed.
  const liveIsNewer =
    base.attempt > detail.attempt || (base.attempt === detail.attempt && isFinished(base.status));
  return {
    ...base,
    messageId: base.messageId ?? detail.messageId,
    status: liveIsNewer ? base.status : detail.status,
    statusKnown: true,
    attempt: Math.max(base.attempt, detail.attempt),
    error: liveIsNewer ? base.error : detail.error,
    parts,
  };
}

export function assemble(stream: TaskStream): AssembledTask {
  const seqs = [...stream.parts.keys()].sort((a, b) => a - b);
  const out: AssembledTask = { text: "", reasoning: "", tools: [], output: "", note: null, missing: [] };
  const present = new Set(seqs);
  const highest = seqs.at(-1) ?? 0;
  for (let seq = 1; seq < highest; seq += 1) if (!present.has(seq)) out.missing.push(seq);
  for (const seq of seqs) {
    const part = stream.parts.get(seq);
    if (!part) continue;
    if (part.kind === "text") out.text += part.data;
    else if (part.kind === "reasoning") out.reasoning += part.data;
    else if (part.kind === "tool_call") out.tools.push(part.data);
    else if (part.kind === "status") out.note = part.data;
    else out.output += part.data;
  }
  return out;
}

/** What a message shows for one robot task it started. */
export type TaskView = {
  taskId: string;
  robotId: string;
  messageId: string | null;
  status: TaskStatus;
  error: string | null;
  assembled: AssembledTask;
};

/**
 * Tasks per invoking message: the listed tasks (REST) overlaid with live streams, which
 * are newer whenever both exist; live tasks not yet listed are included.
 */
export function taskViewsByMessage(
  listed: ReadonlyArray<{
    id: string;
    robotId: string;
    messageId: string | null;
    status: TaskStatus;
    error: string | null;
  }>,
  live: ReadonlyMap<string, TaskStream>,
): Map<string, TaskView[]> {
  const views = new Map<string, TaskView>();
  for (const task of listed) {
    views.set(task.id, {
      taskId: task.id,
      robotId: task.robotId,
      messageId: task.messageId,
      status: task.status,
      error: task.error,
      assembled: assemble(emptyStream({ taskId: task.id, robotId: task.robotId })),
    });
  }
  for (const stream of live.values()) {
    const listedView = views.get(stream.taskId);
    // A stream that only saw progress guessed "running"; a listed final state is better.
    const status =
      !stream.statusKnown && listedView && isFinished(listedView.status) ? listedView.status : stream.status;
    views.set(stream.taskId, {
      taskId: stream.taskId,
      robotId: stream.robotId,
      messageId: stream.messageId ?? listedView?.messageId ?? null,
      status,
      error: stream.error ?? listedView?.error ?? null,
      assembled: assemble(stream),
    });
  }
  const byMessage = new Map<string, TaskView[]>();
  for (const view of views.values()) {
    if (!view.messageId) continue;
    byMessage.set(view.messageId, [...(byMessage.get(view.messageId) ?? []), view]);
  }
  return byMessage;
}
