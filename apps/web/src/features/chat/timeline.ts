import type { Message, MessagePage } from "@perseus/contracts";

/**
 * A chatgroup's loaded history: a contiguous run of seqs, oldest first. Live messages
 * extend it only when they follow on; anything else is a gap that must be filled over
 * REST before it is shown, so the list never silently skips a message.
 */
export type Timeline = {
  messages: Message[];
  /** Older history exists before the first loaded message. */
  hasMoreBefore: boolean;
  /** Highest seq held (0 when empty): the resume point for `subscribe.afterSeq`. */
  newestSeq: number;
  /** Live messages that arrived ahead of a gap, waiting for the fill. */
  pending: Message[];
};

export const emptyTimeline: Timeline = { messages: [], hasMoreBefore: false, newestSeq: 0, pending: [] };

function bySeq(a: Message, b: Message): number {
  return a.seq - b.seq;
}

function withPending(timeline: Timeline): Timeline {
  if (!timeline.pending.length) return timeline;
  let { messages, newestSeq } = timeline;
  const pending: Message[] = [];
  for (const message of [...timeline.pending].sort(bySeq)) {
    if (message.seq <= newestSeq) continue;
    if (message.seq === newestSeq + 1) {
      messages = [...messages, message];
      newestSeq = message.seq;
    } else pending.push(message);
  }
  return { ...timeline, messages, newestSeq, pending };
}

/** The latest page (first load or after `reload_required`): replaces what was held. */
export function fromLatestPage(page: MessagePage, pending: Message[] = []): Timeline {
  const messages = [...page.items].sort(bySeq);
  const newestSeq = messages.at(-1)?.seq ?? page.lastSeq;
  return withPending({ messages, hasMoreBefore: page.hasMoreBefore, newestSeq, pending });
}

/** An older page (scrolling up): prepended, duplicates dropped. */
export function prependOlder(timeline: Timeline, page: MessagePage): Timeline {
  const first = timeline.messages[0]?.seq ?? Number.POSITIVE_INFINITY;
  const older = page.items.filter((message) => message.seq < first).sort(bySeq);
  return { ...timeline, messages: [...older, ...timeline.messages], hasMoreBefore: page.hasMoreBefore };
}

/** A page read with `after=newestSeq` to fill a gap: appended, then waiting live messages follow. */
export function appendNewer(timeline: Timeline, page: MessagePage): Timeline {
  let { messages, newestSeq } = timeline;
  for (const message of [...page.items].sort(bySeq)) {
    if (message.seq !== newestSeq + 1) continue;
    messages = [...messages, message];
    newestSeq = message.seq;
  }
  return withPending({ ...timeline, messages, newestSeq });
}

export type LiveResult = {
  timeline: Timeline /** A fill is needed: read `after=newestSeq`. */;
  gap: boolean;
};

/** A live `message` frame: the next seq is appended, an old one ignored, a later one waits for a fill. */
export function applyLive(timeline: Timeline, message: Message): LiveResult {
  if (message.seq <= timeline.newestSeq) return { timeline, gap: false };
  if (message.seq === timeline.newestSeq + 1 && !timeline.pending.length) {
    return {
      timeline: { ...timeline, messages: [...timeline.messages, message], newestSeq: message.seq },
      gap: false,
    };
  }
  const pending = timeline.pending.some((held) => held.seq === message.seq)
    ? timeline.pending
    : [...timeline.pending, message];
  const next = withPending({ ...timeline, pending });
  return { timeline: next, gap: next.pending.length > 0 };
}

/** A `message_changed` frame, or the answer of an edit/reaction: replaces the message in place. */
export function applyChange(timeline: Timeline, message: Message): Timeline {
  const index = timeline.messages.findIndex((held) => held.id === message.id);
  if (index < 0) return timeline;
  const messages = [...timeline.messages];
  messages[index] = message;
  return { ...timeline, messages };
}

/** Replies per thread root among the loaded messages. */
export function replyCounts(messages: Message[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of messages) {
    if (message.threadRootId) counts.set(message.threadRootId, (counts.get(message.threadRootId) ?? 0) + 1);
  }
  return counts;
}
