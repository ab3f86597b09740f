import type { Message, MessagePage } from "@perseus/contracts";
import { describe, expect, it } from "vitest";
import {
  appendNewer,
  applyChange,
  applyLive,
  fromLatestPage,
  prependOlder,
  replyCounts,
} from "./timeline.js";

const GROUP = "00000000-0000-4000-8000-000000000003";
const id = (seq: number) => `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`;

function message(seq: number, extra: Partial<Message> = {}): Message {
  return {
    id: id(seq),
    chatgroupId: GROUP,
    seq,
    authorType: "user",
    authorId: id(999),
    body: `m${seq}`,
    threadRootId: null,
    mentions: { users: [], robots: [] },
    attachments: [],
    taskId: null,
    reactions: [],
    editedAt: null,
    deletedAt: null,
    createdAt: "2026-01-01T00:00:00.000Z",
    ...extra,
  };
}

const page = (seqs: number[], more: Partial<MessagePage> = {}): MessagePage => ({
  items: seqs.map((seq) => message(seq)),
  hasMoreBefore: false,
  hasMoreAfter: false,
  lastSeq: seqs.at(-1) ?? 0,
  ...more,
});
const seqs = (messages: Message[]) => messages.map((m) => m.seq);

describe("timeline", () => {
  it("appends the next live message and drops duplicates", () => {
    let timeline = fromLatestPage(page([1, 2, 3]));
    timeline = applyLive(timeline, message(4)).timeline;
    const again = applyLive(timeline, message(4));
    expect(again.gap).toBe(false);
    expect(seqs(again.timeline.messages)).toEqual([1, 2, 3, 4]);
    expect(again.timeline.newestSeq).toBe(4);
  });

  it("never shows a message past a gap until the gap is filled", () => {
    const start = fromLatestPage(page([1, 2]));
    const { timeline, gap } = applyLive(start, message(5));
    expect(gap).toBe(true);
    expect(seqs(timeline.messages)).toEqual([1, 2]);
    const filled = appendNewer(timeline, page([3, 4]));
    expect(seqs(filled.messages)).toEqual([1, 2, 3, 4, 5]);
    expect(filled.pending).toEqual([]);
    expect(filled.newestSeq).toBe(5);
  });

  it("a partial fill keeps the rest pending", () => {
    const { timeline } = applyLive(fromLatestPage(page([1])), message(9));
    const partly = appendNewer(timeline, page([2, 3], { hasMoreAfter: true }));
    expect(seqs(partly.messages)).toEqual([1, 2, 3]);
    expect(seqs(partly.pending)).toEqual([9]);
  });

  it("merges live messages that came in before the first page", () => {
    const timeline = fromLatestPage(page([1, 2, 3]), [message(3), message(4)]);
    expect(seqs(timeline.messages)).toEqual([1, 2, 3, 4]);
  });

  it("prepends older pages without duplicates", () => {
    const latest = fromLatestPage(page([51, 52], { hasMoreBefore: true }));
    const older = prependOlder(latest, page([49, 50, 51], { hasMoreBefore: false }));
    expect(seqs(older.messages)).toEqual([49, 50, 51, 52]);
    expect(older.hasMoreBefore).toBe(false);
  });

  it("replaces changed messages in place and counts thread replies", () => {
    const timeline = fromLatestPage(page([1, 2]));
    const changed = applyChange(timeline, message(2, { body: "edited" }));
    expect(changed.messages[1]?.body).toBe("edited");
    const withReplies = [
      message(1),
      message(2, { threadRootId: id(1) }),
      message(3, { threadRootId: id(1) }),
    ];
    expect(replyCounts(withReplies).get(id(1))).toBe(2);
  });
});
