import type { CreateMessageBody, Message } from "@perseus/contracts";
import { type Db, isUniqueViolation, type Tx, withTenant } from "@perseus/db";
import { AppError } from "@perseus/kit";
import { activeContext, type Context, captureTrace, withContext } from "@perseus/tracing";
import { requireChatgroup } from "../../lib/access.js";
import type { ServiceContext } from "../../lib/context.js";
import * as repo from "./messages.repo.js";
import { type StoreMessageInput, storeMessages } from "./messages.store.js";

export type PostResult = { message: Message; isReplay: boolean };
export type Author = { type: "user" | "robot"; id: string };
type PostOne = (ctx: ServiceContext, chatgroupId: string, input: CreateMessageBody) => Promise<PostResult>;

type Pending = {
  ctx: ServiceContext;
  chatgroupId: string;
  input: CreateMessageBody;
  author: Author;
  /** The caller's trace context (tracing on only): its message.created event continues it. */
  trace: Context | undefined;
  resolve: (result: PostResult) => void;
  reject: (error: unknown) => void;
};

/** What became of one post inside a batch transaction. */
type Outcome =
  | { kind: "failed"; error: unknown }
  | { kind: "replay"; message: Message }
  | { kind: "stored"; index: number }
  | { kind: "duplicate"; of: number };

export type PostBatcherOptions = {
  db: Db;
  /** The one-post path: a batch of one takes it, and so does every post of a batch that failed before commit. */
  postOne: PostOne;
  /** Transactions of one tenant's posts in flight at once; posts arriving meanwhile wait and share the next. */
  maxInFlight?: number;
  maxBatchSize?: number;
};

/**
 * Group commit for posts. While `maxInFlight` transactions of a tenant are running, further
 * posts queue and are stored together in the next one: one BEGIN, one seq range per
 * chatgroup, one insert of messages and one of outbox rows, one COMMIT. Each caller is
 * answered only after that commit. At low load every post runs alone, exactly as before.
 */
export function createPostBatcher(options: PostBatcherOptions) {
  const { db, postOne } = options;
  const maxInFlight = options.maxInFlight ?? 4;
  const maxBatchSize = options.maxBatchSize ?? 100;
  const tenants = new Map<string, { queue: Pending[]; inFlight: number }>();

  function pump(tenantId: string) {
    const state = tenants.get(tenantId);
    if (!state) return;
    while (state.inFlight < maxInFlight && state.queue.length > 0) {
      const batch = state.queue.splice(0, maxBatchSize);
      state.inFlight++;
      void runBatch(tenantId, batch).finally(() => {
        state.inFlight--;
        if (state.queue.length > 0) pump(tenantId);
        else if (state.inFlight === 0) tenants.delete(tenantId);
      });
    }
  }

  async function runBatch(tenantId: string, batch: Pending[]) {
    if (batch.length === 1) {
      const [only] = batch as [Pending];
      return withContext(only.trace, () => postOne(only.ctx, only.chatgroupId, only.input)).then(
        only.resolve,
        only.reject,
      );
    }
    let outcomes: Outcome[];
    let stored: Message[];
    try {
      ({ outcomes, stored } = await withTenant(db, { tenantId }, (tx) => storeBatch(tx, tenantId, batch)));
    } catch (error) {
      // Failed before COMMIT on something one post caused (a thread root not found, a clientKey
      // committed meanwhile by another transaction): nothing was stored, so each post is
      // retried alone and answered as it would have been. Anything else fails them all.
      if (error instanceof AppError || isUniqueViolation(error)) {
        for (const p of batch)
          withContext(p.trace, () => postOne(p.ctx, p.chatgroupId, p.input)).then(p.resolve, p.reject);
        return;
      }
      for (const p of batch) p.reject(error);
      return;
    }
    for (const [i, p] of batch.entries()) {
      const outcome = outcomes[i]!;
      if (outcome.kind === "failed") p.reject(outcome.error);
      else if (outcome.kind === "replay") p.resolve({ message: outcome.message, isReplay: true });
      else if (outcome.kind === "stored") p.resolve({ message: stored[outcome.index]!, isReplay: false });
      else p.resolve({ message: stored[outcome.of]!, isReplay: true });
    }
  }

  /** The one-post checks for every post, then one store for those that pass them. */
  async function storeBatch(tx: Tx, tenantId: string, batch: Pending[]) {
    const outcomes: Outcome[] = [];
    const inputs: StoreMessageInput[] = [];
    const firstByKey = new Map<string, number>();
    for (const p of batch) {
      let chatgroup: StoreMessageInput["chatgroup"];
      try {
        chatgroup = await requireChatgroup(tx, p.ctx.actor, p.chatgroupId, { forWriting: true });
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        outcomes.push({ kind: "failed", error });
        continue;
      }
      const { clientKey } = p.input;
      if (clientKey) {
        // A retry racing its original inside one batch gets the original, as after a commit.
        const key = JSON.stringify([p.chatgroupId, p.author.id, clientKey]);
        const first = firstByKey.get(key);
        if (first !== undefined) {
          outcomes.push({ kind: "duplicate", of: first });
          continue;
        }
        const existing = await repo.findByClientKey(tx, {
          chatgroupId: p.chatgroupId,
          authorId: p.author.id,
          clientKey,
        });
        if (existing) {
          const [message] = await repo.withReactions(tx, [existing]);
          outcomes.push({ kind: "replay", message: message! });
          continue;
        }
        firstByKey.set(key, inputs.length);
      }
      outcomes.push({ kind: "stored", index: inputs.length });
      inputs.push({
        tenantId,
        chatgroup,
        authorType: p.author.type,
        authorId: p.author.id,
        body: p.input.body,
        threadRootId: p.input.threadRootId,
        attachments: p.input.attachments,
        clientKey,
        trace: p.trace ? captureTrace(p.trace) : undefined,
      });
    }
    return { outcomes, stored: await storeMessages(tx, inputs) };
  }

  return {
    /** Resolves once this post's message and outbox row are committed (or it is known as a replay). */
    post(
      ctx: ServiceContext,
      chatgroupId: string,
      input: CreateMessageBody,
      author: Author,
    ): Promise<PostResult> {
      return new Promise<PostResult>((resolve, reject) => {
        let state = tenants.get(ctx.tenantId);
        if (!state) {
          state = { queue: [], inFlight: 0 };
          tenants.set(ctx.tenantId, state);
        }
        state.queue.push({ ctx, chatgroupId, input, author, trace: activeContext(), resolve, reject });
        pump(ctx.tenantId);
      });
    },
  };
}
