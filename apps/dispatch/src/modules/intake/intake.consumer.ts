import { markProcessed } from "@perseus/bus";
import type { DomainEvent } from "@perseus/contracts";
import { access, type Db, schema } from "@perseus/db";
import { v7 as uuidv7 } from "uuid";
import { inTenant } from "../../lib/tx.js";
import type { Waker } from "../scheduler/waker.js";
import { announceStatus, type TaskRow } from "../tasks/task-events.js";
import type { TaskTraces } from "../tasks/task-traces.js";

export const INTAKE_CONSUMER = "dispatch";

/**
 * The task's prompt: the message without the robot's own leading `@handle` (and the
 * punctuation after it), so "@jane, run the tests" asks Jane to "run the tests". The
 * whole message still travels with the offer.
 */
export function promptFor(body: string, handle: string): string {
  const leading = new RegExp(`^\\s*@${handle}(?![a-z0-9_-])[\\s,:;.!-]*`, "i");
  const prompt = body.replace(leading, "");
  return prompt.trim() ? prompt : body;
}

/**
 * Turns `message.created` into tasks: one per mentioned robot that may be invoked in the
 * chatgroup, with the message body as prompt. Idempotent twice over: the event id is
 * recorded with the tasks (markProcessed), and (tenant, message, robot) is unique.
 * Only people's messages invoke robots, so two robots cannot mention each other forever.
 */
export function createIntakeHandler(deps: {
  db: Db;
  waker: Waker;
  maxAttempts: number;
  /** With tracing on: each task's offer continues the trace of the message that created it. */
  traces?: TaskTraces;
}) {
  return async function handle(event: DomainEvent): Promise<TaskRow[]> {
    if (event.type !== "message.created") return [];
    const message = event.payload;
    if (message.authorType !== "user" || message.mentions.robots.length === 0) return [];
    const created = await inTenant(deps.db, { tenantId: event.tenantId }, async (tx) => {
      const isFirst = await markProcessed(tx, {
        tenantId: event.tenantId,
        consumer: INTAKE_CONSUMER,
        eventId: event.id,
      });
      if (!isFirst) return [];
      const chatgroup = { chatgroupId: message.chatgroupId, teamId: message.teamId };
      const rows: TaskRow[] = [];
      const seen = new Set<string>();
      for (const mention of message.mentions.robots) {
        if (seen.has(mention.robotId)) continue;
        seen.add(mention.robotId);
        if (!(await access.isRobotInvocable(tx, mention.robotId, chatgroup))) continue;
        const [row] = await tx
          .insert(schema.tasks)
          .values({
            tenantId: event.tenantId,
            id: uuidv7(),
            robotId: mention.robotId,
            chatgroupId: message.chatgroupId,
            messageId: message.messageId,
            requestedBy: message.authorId,
            prompt: promptFor(message.body, mention.handle),
            maxAttempts: deps.maxAttempts,
          })
          .onConflictDoNothing()
          .returning();
        if (row) rows.push(row);
      }
      await announceStatus(tx, rows);
      // Before commit, so no offer (a poll may run any time after it) misses the trace. Telemetry
      // only: a Redis hiccup must not fail the intake, and a rolled-back task's key just expires.
      if (rows.length > 0) await deps.traces?.remember(rows).catch(() => {});
      return rows;
    });
    for (const row of created) deps.waker.robot(row.tenantId, row.robotId);
    return created;
  };
}
