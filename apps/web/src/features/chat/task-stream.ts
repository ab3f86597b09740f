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
    parts: new Map(),
    ...frame,
  };
}

/** A status frame; a later attempt starts with no progress (its seqs restart at 1). */
export function applyStatus(current: TaskStream | undefined, frame: RealtimeTaskStatusFrame): TaskStream {
  const base = current ?? emptyStream({ taskId: frame.taskId, robotId: frame.robotId });
  if (frame.attempt < base.attempt) return base;
  const newAttempt = frame.attempt > base.attempt && base.attempt > 0;
  return {
    ...base,
    messageId: frame.messageId ?? base.messageId,
    status: frame.status,
    attempt: frame.attempt,
    error: frame.error,
    parts: newAttempt ? new Map() : base.parts,
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
  const liveIsNewer = base.attempt > detail.attempt || (base.attempt === detail.attempt && isFinished(base.status));
  return {
    ...base,
    messageId: base.messageId ?? detail.messageId,
    status: liveIsNewer ? base.status : detail.status,
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
