import type {
  Message,
  RealtimeErrorCode,
  RealtimeMessageChangedFrame,
  RealtimeServerFrame,
  RealtimeTaskProgressFrame,
  RealtimeTaskStatusFrame,
} from "@perseus/contracts";

/**
 * Server frames as JSON text. A frame going to many sockets is serialised once and the
 * same string is sent to each of them (the hub's hot path allocates per event, not per socket).
 */
export const frame = (value: RealtimeServerFrame): string => JSON.stringify(value);

export const messageFrame = (message: Message) =>
  frame({ type: "message", chatgroupId: message.chatgroupId, message });

export const messageChangedFrame = (message: Message, change: RealtimeMessageChangedFrame["change"]) =>
  frame({ type: "message_changed", chatgroupId: message.chatgroupId, seq: message.seq, change, message });

export const errorFrame = (code: RealtimeErrorCode, message: string, chatgroupId?: string) =>
  frame(chatgroupId ? { type: "error", code, message, chatgroupId } : { type: "error", code, message });

export const taskStatusFrame = (value: Omit<RealtimeTaskStatusFrame, "type">) =>
  frame({ type: "task_status", ...value });

export const taskProgressFrame = (value: Omit<RealtimeTaskProgressFrame, "type">) =>
  frame({ type: "task_progress", ...value });
