import pg from "pg";
import type {
  DrainEntry,
  FaultEntry,
  JournalEntry,
  PostEntry,
  ProbeEntry,
  RealtimeEntry,
  SetupEntry,
  WriteEntry,
} from "./journal.js";

export type InvariantResult = {
  name: string;
  /** How many things it looked at (acknowledged messages, tasks, writes, …). */
  checked: number;
  violations: string[];
  /** Counts worth reading that are not violations (retries, repaired gaps, reloads, …). */
  notes: Record<string, number | string>;
};

export type SeedReport = { seed: number; invariants: InvariantResult[]; violations: number };

const MAX_LISTED = 20;

function invariant(name: string): InvariantResult & { fail(message: string): void } {
  const result = {
    name,
    checked: 0,
    violations: [] as string[],
    notes: {} as Record<string, number | string>,
    fail(message: string) {
      result.violations.push(message);
    },
  };
  return result;
}

type MessageRow = {
  id: string;
  tenant_id: string;
  chatgroup_id: string;
  seq: string;
  body: string;
  task_id: string | null;
  author_type: string;
};

/**
 * The offline checker: reads the journal and the seed's database (superuser for the global
 * view, the application role under each tenant's context for isolation) once everything
 * has stopped, and reports each invariant with its counts.
 */
export async function checkSeed(options: {
  journal: JournalEntry[];
  adminUrl: string;
  appUrl: string;
}): Promise<SeedReport> {
  const { journal } = options;
  const setup = journal.find((e): e is SetupEntry => e.op === "setup");
  if (!setup) throw new Error("the journal has no setup entry");
  const posts = journal.filter((e): e is PostEntry => e.op === "post");
  const writes = journal.filter((e): e is WriteEntry => e.op === "write");
  const received = journal.filter((e): e is RealtimeEntry => e.op === "rt");
  const probes = journal.filter((e): e is ProbeEntry => e.op === "probe");
  const faults = journal.filter((e): e is FaultEntry => e.op === "fault");
  const drain = journal.find((e): e is DrainEntry => e.op === "drain");

  const admin = new pg.Client({ connectionString: options.adminUrl });
  await admin.connect();
  const results: InvariantResult[] = [];
  try {
    const messages = (
      await admin.query<MessageRow>(
        "select id, tenant_id, chatgroup_id, seq::text, body, task_id, author_type from messages",
      )
    ).rows;
    const byId = new Map(messages.map((m) => [m.id, m]));
    const byBody = new Map<string, MessageRow[]>();
    for (const m of messages) byBody.set(m.body, [...(byBody.get(m.body) ?? []), m]);

    // ---- every acknowledged message exactly once, with the id and seq it was acknowledged with
    const once = invariant("acknowledged messages stored exactly once");
    for (const post of posts) {
      const stored = byBody.get(post.body) ?? [];
      if (post.ack) {
        once.checked += 1;
        const row = byId.get(post.id);
        if (!row) once.fail(`${post.clientKey}: acknowledged message ${post.id} is missing`);
        else if (Number(row.seq) !== post.seq || row.chatgroup_id !== post.chatgroupId)
          once.fail(`${post.clientKey}: stored at seq ${row.seq}, acknowledged as seq ${post.seq}`);
        if (stored.length !== 1) once.fail(`${post.clientKey}: stored ${stored.length} times`);
      } else if (stored.length > 1)
        once.fail(`${post.clientKey} (unacknowledged): stored ${stored.length} times`);
    }
    once.notes.acknowledged = posts.filter((p) => p.ack).length;
    once.notes.unacknowledged = posts.filter((p) => !p.ack).length;
    once.notes.unacknowledgedButStored = posts.filter((p) => !p.ack && byBody.has(p.body)).length;
    once.notes.retriedPosts = posts.filter((p) => p.attempts > 1).length;
    results.push(once);

    // ---- order: each sequential client's acknowledged posts in its order; seqs gap-free per chatgroup
    const order = invariant("messages in order, seq gap-free");
    const lastByStream = new Map<string, number>();
    for (const post of posts) {
      if (!post.ack) continue;
      order.checked += 1;
      const key = `${post.stream}/${post.chatgroupId}`;
      const previous = lastByStream.get(key) ?? 0;
      if (post.seq <= previous) order.fail(`${post.clientKey}: seq ${post.seq} after ${previous} in ${key}`);
      lastByStream.set(key, post.seq);
    }
    const seqsByChatgroup = new Map<string, number[]>();
    for (const m of messages)
      seqsByChatgroup.set(m.chatgroup_id, [...(seqsByChatgroup.get(m.chatgroup_id) ?? []), Number(m.seq)]);
    for (const [chatgroupId, seqs] of seqsByChatgroup) {
      seqs.sort((a, b) => a - b);
      const bad = seqs.findIndex((seq, i) => seq !== i + 1);
      if (bad >= 0)
        order.fail(`chatgroup ${chatgroupId}: seq ${seqs[bad]} at position ${bad + 1} (gap or duplicate)`);
    }
    order.notes.chatgroups = seqsByChatgroup.size;
    results.push(order);

    // ---- the realtime reader: no duplicate or reorder, nothing missed by the end
    const realtime = invariant("realtime reader: no duplicate, reorder or silent gap");
    const readerChatgroups = setup.tenants.A.chatgroupIds;
    for (const chatgroupId of readerChatgroups) {
      let held = 0;
      const seen = new Set<number>();
      for (const entry of received.filter((e) => e.chatgroupId === chatgroupId)) {
        realtime.checked += 1;
        if (entry.seq <= held)
          realtime.fail(
            `chatgroup ${chatgroupId}: got seq ${entry.seq} (${entry.via}) after ${held}${seen.has(entry.seq) ? " (duplicate)" : " (reorder)"}`,
          );
        else if (entry.seq !== held + 1)
          realtime.fail(`chatgroup ${chatgroupId}: seq ${entry.seq} recorded after ${held} (unrepaired gap)`);
        held = Math.max(held, entry.seq);
        seen.add(entry.seq);
        const row = byId.get(entry.id);
        if (!row || Number(row.seq) !== entry.seq)
          realtime.fail(
            `chatgroup ${chatgroupId}: seq ${entry.seq} is not message ${entry.id} in the database`,
          );
      }
      const dbLast = Math.max(0, ...(seqsByChatgroup.get(chatgroupId) ?? []));
      if (held < dbLast)
        realtime.fail(`chatgroup ${chatgroupId}: reader ended at seq ${held}, database at ${dbLast}`);
    }
    const events = journal.filter((e) => e.op === "rt-event");
    realtime.notes.viaSocket = received.filter((e) => e.via === "socket").length;
    realtime.notes.repairedFromRest = received.filter((e) => e.via === "repair").length;
    realtime.notes.gapsRepaired = events.filter((e) => e.kind === "gap").length;
    realtime.notes.reloadRequired = events.filter((e) => e.kind === "reload_required").length;
    realtime.notes.reconnects = Math.max(0, events.filter((e) => e.kind === "connected").length - 1);
    results.push(realtime);

    // ---- tasks: every stored @jane post has one task, terminal, with one accepted completion and one reply
    const tasksResult = invariant("acknowledged tasks terminal with one completion and one reply");
    const taskRows = (
      await admin.query<{
        id: string;
        message_id: string | null;
        status: string;
        attempt: number;
        result: string | null;
      }>("select id, message_id, status, attempt, result from tasks")
    ).rows;
    const attempts = (
      await admin.query<{ task_id: string; outcome: string | null; epoch: string }>(
        "select task_id, outcome, epoch::text from task_attempts order by epoch",
      )
    ).rows;
    const statusCounts: Record<string, number> = {};
    let retriedTasks = 0;
    for (const post of posts.filter((p) => p.task)) {
      const message = post.ack ? byId.get(post.id) : byBody.get(post.body)?.[0];
      if (!message) continue; // unacknowledged and never stored: allowed
      tasksResult.checked += 1;
      const marker = post.body.replace("@jane echo ", "");
      const tasks = taskRows.filter((t) => t.message_id === message.id);
      if (tasks.length !== 1) {
        tasksResult.fail(`${post.clientKey}: ${tasks.length} tasks for message ${message.id}`);
        continue;
      }
      const task = tasks[0]!;
      statusCounts[task.status] = (statusCounts[task.status] ?? 0) + 1;
      if (task.attempt > 1) retriedTasks += 1;
      const history = attempts
        .filter((a) => a.task_id === task.id)
        .map((a) => `${a.epoch}:${a.outcome ?? "open"}`)
        .join(",");
      if (task.status !== "succeeded") {
        tasksResult.fail(
          `${post.clientKey}: task ${task.id} ended ${task.status} after ${task.attempt} attempts [${history}]`,
        );
        continue;
      }
      const accepted = attempts.filter((a) => a.task_id === task.id && a.outcome === "succeeded").length;
      if (accepted !== 1)
        tasksResult.fail(`${post.clientKey}: task ${task.id} has ${accepted} accepted completions`);
      const replies = messages.filter((m) => m.task_id === task.id);
      if (replies.length !== 1)
        tasksResult.fail(`${post.clientKey}: task ${task.id} has ${replies.length} replies`);
      else if (!replies[0]!.body.includes(marker))
        tasksResult.fail(`${post.clientKey}: the reply lacks the output ${marker}`);
    }
    Object.assign(tasksResult.notes, statusCounts, { retriedTasks });
    results.push(tasksResult);

    // ---- workspace: the version chain holds every acknowledged write exactly once
    const lost = invariant("no lost ETag update");
    const files = new Map<string, WriteEntry[]>();
    for (const write of writes) {
      const key = `${write.layer}/${write.layerId}/${write.path}`;
      files.set(key, [...(files.get(key) ?? []), write]);
    }
    for (const [key, fileWrites] of files) {
      const first = fileWrites[0]!;
      const tenantId = setup.tenants[first.tenant].tenantId;
      const entry = (
        await admin.query<{ file_id: string; version: number; etag: string }>(
          "select file_id, version, etag from workspace_entries where tenant_id = $1 and layer = $2 and layer_id = $3 and path = $4",
          [tenantId, first.layer, first.layerId, first.path],
        )
      ).rows[0];
      const acked = fileWrites.filter((w): w is WriteEntry & { ack: true } => w.ack);
      lost.checked += acked.length;
      if (!entry) {
        if (acked.length) lost.fail(`${key}: file missing, ${acked.length} acknowledged writes`);
        continue;
      }
      const versions = (
        await admin.query<{ version: number; etag: string; sha256: string }>(
          "select version, etag, sha256 from workspace_versions where tenant_id = $1 and file_id = $2 order by version",
          [tenantId, entry.file_id],
        )
      ).rows;
      versions.forEach((v, i) => {
        if (v.version !== i + 1)
          lost.fail(`${key}: version ${v.version} at position ${i + 1} (pruned or gap)`);
      });
      const current = versions.at(-1);
      if (current && (current.version !== entry.version || current.etag !== entry.etag))
        lost.fail(`${key}: entry says v${entry.version}, the newest version is v${current.version}`);
      const shaCount = new Map<string, number>();
      for (const v of versions) shaCount.set(v.sha256, (shaCount.get(v.sha256) ?? 0) + 1);
      for (const [sha, n] of shaCount)
        if (n > 1) lost.fail(`${key}: content ${sha.slice(0, 12)} applied ${n} times`);
      for (const write of acked) {
        const stored = versions.find((v) => v.version === write.version);
        if (!stored) lost.fail(`${key}: acknowledged v${write.version} is missing`);
        else if (stored.etag !== write.etag || stored.sha256 !== write.sha256)
          lost.fail(`${key}: acknowledged v${write.version} was replaced by other content`);
      }
      // Each acknowledged write replaced the version whose ETag it sent.
      for (const write of acked) {
        if (write.ifMatch === null) continue;
        const previous = versions.find((v) => v.version === write.version - 1);
        if (previous && previous.etag !== write.ifMatch)
          lost.fail(
            `${key}: v${write.version} was written over ETag ${write.ifMatch}, not over v${previous.version}`,
          );
      }
    }
    lost.notes.files = files.size;
    lost.notes.unacknowledged = writes.filter((w) => !w.ack).length;
    lost.notes.conflicts412 = writes.filter((w) => !w.ack && w.error.startsWith("HTTP 412")).length;
    results.push(lost);

    // ---- tenancy: tenant B's canary never in A's data, never visible to A
    const isolation = invariant("nothing across tenants");
    const canaryRows = await countCanary(options.appUrl, setup.tenants.A.tenantId, setup.canary);
    const canaryRowsB = await countCanary(options.appUrl, setup.tenants.B.tenantId, setup.canary);
    isolation.checked += 1;
    if (canaryRows > 0) isolation.fail(`tenant A's context sees ${canaryRows} rows with B's canary`);
    // The check must be able to fail: B's own context sees its canaries.
    if (canaryRowsB === 0) isolation.fail("tenant B's context sees no canary: the check proves nothing");
    const leaked = messages.filter(
      (m) => m.tenant_id === setup.tenants.A.tenantId && m.body.includes(setup.canary),
    );
    if (leaked.length) isolation.fail(`${leaked.length} messages of tenant A carry B's canary`);
    for (const probe of probes.filter((p) => p.name.startsWith("isolation"))) {
      isolation.checked += 1;
      if (!probe.ok) isolation.fail(`${probe.name}: ${probe.detail}`);
    }
    isolation.notes.canaryRowsInB = canaryRowsB;
    results.push(isolation);

    // ---- audit chain
    const audit = invariant("audit chain intact");
    for (const probe of probes.filter((p) => p.name.startsWith("audit"))) {
      audit.checked += 1;
      if (!probe.ok) audit.fail(`${probe.name}: ${probe.detail}`);
    }
    if (audit.checked === 0) audit.fail("the audit chain was never verified");
    results.push(audit);

    // ---- the run itself: faults healed, drain finished
    const harness = invariant("faults healed and platform recovered");
    harness.checked = faults.filter((f) => f.phase === "start").length;
    for (const fault of faults.filter((f) => f.phase === "error"))
      harness.fail(`fault #${fault.index} ${fault.kind} ${fault.target}: ${fault.detail?.split("\n")[0]}`);
    if (!drain) harness.fail("the drain phase never finished");
    else {
      if (!drain.tasksSettled) harness.fail(`tasks not settled: ${drain.detail}`);
      if (!drain.readerCaughtUp) harness.fail(`realtime reader not caught up: ${drain.detail}`);
    }
    harness.notes.faults = harness.checked;
    results.push(harness);
  } finally {
    await admin.end();
  }
  for (const result of results) {
    if (result.violations.length > MAX_LISTED) {
      const more = result.violations.length - MAX_LISTED;
      result.notes.violationsNotListed = more;
    }
  }
  return {
    seed: setup.seed,
    invariants: results,
    violations: results.reduce((n, r) => n + r.violations.length, 0),
  };
}

/** Rows carrying the canary that the application role sees under one tenant's context (RLS applies). */
async function countCanary(appUrl: string, tenantId: string, canary: string): Promise<number> {
  const client = new pg.Client({ connectionString: appUrl });
  await client.connect();
  try {
    await client.query("begin");
    await client.query("select set_config('app.tenant_id', $1, true)", [tenantId]);
    const like = `%${canary}%`;
    const { rows } = await client.query<{ n: number }>(
      `select (select count(*) from messages where body like $1)
            + (select count(*) from tasks where prompt like $1 or coalesce(result, '') like $1)
            + (select count(*) from outbox where envelope::text like $1) as n`,
      [like],
    );
    await client.query("rollback");
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

export function formatReport(report: SeedReport): string {
  const lines = [`seed ${report.seed}: ${report.violations} violations`];
  for (const result of report.invariants) {
    const notes = Object.entries(result.notes)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
    lines.push(
      `  ${result.violations.length === 0 ? "ok  " : "FAIL"} ${result.name}: checked ${result.checked}, violations ${result.violations.length}${notes ? ` (${notes})` : ""}`,
    );
    for (const violation of result.violations.slice(0, MAX_LISTED)) lines.push(`       - ${violation}`);
  }
  return lines.join("\n");
}
