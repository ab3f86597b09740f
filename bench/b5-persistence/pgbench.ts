// The B5 baseline: pgbench sending the very statements the chat service sends for a post
// (captured from the driver), in the same round trips: BEGIN and the tenant setting
// together, the chatgroup access check, the seq counter upsert, the message insert with
// RETURNING, the outbox insert, COMMIT. Only the client differs.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memberNumber } from "../lib/chat-fixtures.js";

const messageColumns = `"tenant_id", "id", "chatgroup_id", "seq", "author_type", "author_id", "body", "thread_root_id", "mentions", "attachments", "task_id", "client_key", "edited_at", "deleted_at", "created_at"`;

/**
 * A pgbench script storing `batchSize` messages per transaction in room `client_id`,
 * posted by that room's member 0. `body` must not contain quotes.
 */
export function pgbenchScript(options: {
  tenantId: string;
  roomPrefix: string;
  userPrefix: string;
  batchSize: number;
  body: string;
}): string {
  const { tenantId, batchSize, body } = options;
  const room = `('${options.roomPrefix}' || lpad(:client_id::text, 12, '0'))::uuid`;
  const author = `('${options.userPrefix}' || lpad((:client_id * ${memberNumber(1, 0)})::text, 12, '0'))::uuid`;
  // An envelope of the size and shape the service writes (~600 bytes).
  const envelope = (seq: string) =>
    `jsonb_build_object('id', gen_random_uuid(), 'type', 'message.created', 'version', 1, 'tenantId', '${tenantId}', 'occurredAt', now(), 'payload', jsonb_build_object('seq', ${seq}, 'body', '${body}', 'taskId', null, 'teamId', gen_random_uuid(), 'authorId', ${author}, 'mentions', '{"users": [], "robots": []}'::jsonb, 'createdAt', now(), 'messageId', gen_random_uuid(), 'authorType', 'user', 'attachments', '[]'::jsonb, 'chatgroupId', ${room}, 'threadRootId', null))`;
  const seqs = Array.from({ length: batchSize }, (_, i) => `:last_seq - ${batchSize - 1 - i}`);
  return [
    `BEGIN \\; SELECT set_config('app.tenant_id', '${tenantId}', true);`,
    `select "id", "team_id", "name", "archived_at" from "chatgroups" where ("chatgroups"."id" = ${room} and (("chatgroups"."visibility" = 'team' and exists (select 1 from "team_members" tm where tm.team_id = "chatgroups"."team_id" and tm.user_id = ${author})) or exists (select 1 from "chatgroup_members" cm where cm.chatgroup_id = "chatgroups"."id" and cm.user_id = ${author})));`,
    `insert into "chatgroup_counters" ("tenant_id", "chatgroup_id", "last_seq") values ('${tenantId}', ${room}, ${batchSize}) on conflict ("tenant_id","chatgroup_id") do update set "last_seq" = "chatgroup_counters"."last_seq" + ${batchSize} returning "last_seq" \\gset`,
    `insert into "messages" (${messageColumns}) values ${seqs
      .map(
        (seq) =>
          `('${tenantId}', gen_random_uuid(), ${room}, ${seq}, 'user', ${author}, '${body}', null, '{"users":[],"robots":[]}', '[]', null, null, default, default, default)`,
      )
      .join(", ")} returning ${messageColumns};`,
    `insert into "outbox" ("id", "tenant_id", "event_id", "topic", "envelope", "created_at") values ${seqs
      .map((seq) => `(default, '${tenantId}', gen_random_uuid(), 'chat', ${envelope(seq)}, default)`)
      .join(", ")};`,
    "COMMIT;",
    "",
  ].join("\n");
}

export type PgbenchResult = { transactionsPerSecond: number; latencyAverage: number; failed: number };

/** Runs pgbench pinned to `core` with `clients` connections for `durationSeconds`. */
export async function runPgbench(options: {
  core: string;
  appUrl: string;
  script: string;
  clients: number;
  durationSeconds: number;
}): Promise<PgbenchResult> {
  const file = join(tmpdir(), `perseus-b5-${process.pid}-${options.clients}.sql`);
  writeFileSync(file, options.script);
  const child = spawn(
    "taskset",
    [
      "-c",
      options.core,
      "pgbench",
      "--no-vacuum",
      "--protocol=simple",
      `--client=${options.clients}`,
      "--jobs=1",
      `--time=${options.durationSeconds}`,
      `--file=${file}`,
      options.appUrl,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  const [code] = (await once(child, "exit")) as [number | null];
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
  if (code !== 0 || !tps) throw new Error(`pgbench failed (${code}):\n${out.slice(-2_000)}`);
  return {
    transactionsPerSecond: Number(tps[1]),
    latencyAverage: Number(/latency average = ([\d.]+) ms/.exec(out)?.[1] ?? Number.NaN),
    failed: Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0),
  };
}
