import { enqueueEvents } from "@perseus/bus";
import type { Message, MessageAttachment, MessageMentions, TraceContext } from "@perseus/contracts";
import { access, type Tx } from "@perseus/db";
import { NotFoundError } from "@perseus/kit";
import { v7 as uuidv7 } from "uuid";
import type { ChatgroupAccess } from "../../lib/access.js";
import { messageCreatedEvent } from "../../lib/events.js";
import { parseMentions } from "./mentions.js";
import {
  findMessage,
  insertMessage,
  insertMessages,
  type NewMessageRow,
  takeNextSeq,
  takeSeqRange,
  toMessage,
} from "./messages.repo.js";

export type StoreMessageInput = {
  tenantId: string;
  chatgroup: ChatgroupAccess;
  authorType: "user" | "robot" | "system";
  authorId: string | null;
  body: string;
  threadRootId?: string | undefined;
  attachments?: MessageAttachment[];
  clientKey?: string | undefined;
  taskId?: string | null;
  /** The trace context of the post, when it is stored in a batch with others. */
  trace?: TraceContext | undefined;
};

/**
 * Resolves `@handles` to tenant members and to robots invocable in this chatgroup. Robot
 * mentions count only in messages people write: a robot's text never starts another
 * robot's task, which would let robots loop on each other.
 */
export async function resolveMentions(
  tx: Tx,
  chatgroup: ChatgroupAccess,
  body: string,
  authorType: StoreMessageInput["authorType"],
): Promise<MessageMentions> {
  const handles = parseMentions(body);
  if (handles.length === 0) return { users: [], robots: [] };
  const [users, robots] = await Promise.all([
    access.findUsersByHandle(tx, handles),
    authorType === "user" ? access.findInvocableRobots(tx, chatgroup, handles) : Promise.resolve([]),
  ]);
  return {
    users: [...new Set(users.map((user) => user.userId))],
    robots: robots.map((robot) => ({ robotId: robot.robotId, handle: robot.handle })),
  };
}

/** A reply to a reply joins the root's thread; the root must be in the same chatgroup. */
async function resolveThreadRoot(tx: Tx, chatgroupId: string, threadRootId: string): Promise<string> {
  const root = await findMessage(tx, threadRootId);
  if (!root || root.chatgroupId !== chatgroupId) throw new NotFoundError("thread root message");
  return root.threadRootId ?? root.id;
}

/**
 * Stores a message with the chatgroup's next seq and writes its `message.created` event
 * to the outbox, all in the caller's transaction: the message exists if and only if its
 * event will be published.
 */
export async function storeMessage(tx: Tx, input: StoreMessageInput): Promise<Message> {
  // Queries on one transaction run one after another anyway; sequential keeps it simple.
  const mentions = await resolveMentions(tx, input.chatgroup, input.body, input.authorType);
  const threadRootId = input.threadRootId
    ? await resolveThreadRoot(tx, input.chatgroup.chatgroupId, input.threadRootId)
    : null;
  // Taken last: the counter's row lock is held until commit, so keep the critical section short.
  const seq = await takeNextSeq(tx, input.tenantId, input.chatgroup.chatgroupId);
  const row = await insertMessage(tx, {
    tenantId: input.tenantId,
    id: uuidv7(),
    chatgroupId: input.chatgroup.chatgroupId,
    seq,
    authorType: input.authorType,
    authorId: input.authorId,
    body: input.body,
    threadRootId,
    mentions,
    attachments: input.attachments ?? [],
    taskId: input.taskId ?? null,
    clientKey: input.clientKey ?? null,
  });
  const message = toMessage(row);
  await enqueueEvents(tx, [messageCreatedEvent(input.tenantId, input.chatgroup.teamId, message)]);
  return message;
}

/**
 * Stores a batch of one tenant's messages in the caller's transaction with one seq range
 * per chatgroup, one multi-row insert and one outbox insert: the same rows and events as
 * storeMessage once per input, in far fewer round trips. Within a chatgroup, seqs follow
 * the input order; counters are locked in chatgroup id order so batches cannot deadlock.
 */
export async function storeMessages(tx: Tx, inputs: readonly StoreMessageInput[]): Promise<Message[]> {
  const tenantId = inputs[0]?.tenantId;
  if (tenantId === undefined) return [];
  if (inputs.some((input) => input.tenantId !== tenantId)) throw new Error("a message batch spans tenants");
  const prepared: { mentions: MessageMentions; threadRootId: string | null }[] = [];
  const counts = new Map<string, number>();
  for (const input of inputs) {
    const chatgroupId = input.chatgroup.chatgroupId;
    prepared.push({
      mentions: await resolveMentions(tx, input.chatgroup, input.body, input.authorType),
      threadRootId: input.threadRootId ? await resolveThreadRoot(tx, chatgroupId, input.threadRootId) : null,
    });
    counts.set(chatgroupId, (counts.get(chatgroupId) ?? 0) + 1);
  }
  const nextSeq = new Map<string, number>();
  for (const chatgroupId of [...counts.keys()].sort()) {
    const count = counts.get(chatgroupId)!;
    nextSeq.set(chatgroupId, (await takeSeqRange(tx, tenantId, chatgroupId, count)) - count + 1);
  }
  const rows: NewMessageRow[] = inputs.map((input, index) => {
    const chatgroupId = input.chatgroup.chatgroupId;
    const seq = nextSeq.get(chatgroupId)!;
    nextSeq.set(chatgroupId, seq + 1);
    return {
      tenantId,
      id: uuidv7(),
      chatgroupId,
      seq,
      authorType: input.authorType,
      authorId: input.authorId,
      body: input.body,
      threadRootId: prepared[index]!.threadRootId,
      mentions: prepared[index]!.mentions,
      attachments: input.attachments ?? [],
      taskId: input.taskId ?? null,
      clientKey: input.clientKey ?? null,
    };
  });
  const messages = (await insertMessages(tx, rows)).map((row) => toMessage(row));
  await enqueueEvents(
    tx,
    messages.map((message, index) =>
      messageCreatedEvent(tenantId, inputs[index]!.chatgroup.teamId, message, inputs[index]!.trace),
    ),
  );
  return messages;
}
