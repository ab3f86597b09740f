import { randomUUID as uuidv7 } from "node:crypto";
import { createTenant, createTestDatabase, type TenantFixture, type TestDatabase } from "@perseus/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSeed, type SeedReport } from "../fault/checker.js";
import type { JournalEntry, PostEntry, SetupEntry } from "../fault/journal.js";

/**
 * The fault suite's checker must be able to fail: a database and journal that agree give 0
 * violations, and each kind of damage is reported by its own invariant.
 */
let database: TestDatabase;
let a: TenantFixture;
let b: TenantFixture;
const canary = "CANARYcheckerselftest";
const ids = { m1: uuidv7(), m2: uuidv7(), b1: uuidv7() };

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: database.adminUrl });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

const insertMessage = (tenantId: string, id: string, chatgroupId: string, seq: number, body: string) =>
  admin((c) =>
    c.query(
      "insert into messages (tenant_id, id, chatgroup_id, seq, author_type, body) values ($1, $2, $3, $4, 'user', $5)",
      [tenantId, id, chatgroupId, seq, body],
    ),
  );

beforeAll(async () => {
  database = await createTestDatabase();
  [a, b] = [await createTenant(database.db), await createTenant(database.db)];
  await insertMessage(a.tenantId, ids.m1, a.chatgroupId, 1, "hello one");
  await insertMessage(a.tenantId, ids.m2, a.chatgroupId, 2, "hello two");
  await insertMessage(b.tenantId, ids.b1, b.chatgroupId, 1, `b ${canary}`);
});

afterAll(async () => {
  await database?.drop();
});

function journal(): JournalEntry[] {
  const setup: SetupEntry = {
    op: "setup",
    seed: 1,
    durationMs: 1_000,
    canary,
    robotId: uuidv7(),
    tenants: {
      A: { tenantId: a.tenantId, userId: a.owner.id, chatgroupIds: [a.chatgroupId] },
      B: { tenantId: b.tenantId, userId: b.owner.id, chatgroupIds: [b.chatgroupId] },
    },
  };
  const post = (
    clientKey: string,
    body: string,
    id: string,
    seq: number,
    chatgroupId = a.chatgroupId,
  ): PostEntry => ({
    op: "post",
    stream: "chat",
    tenant: chatgroupId === a.chatgroupId ? "A" : "B",
    chatgroupId,
    clientKey,
    body,
    task: false,
    attempts: 1,
    at: 1,
    ack: true,
    id,
    seq,
  });
  return [
    setup,
    post("k1", "hello one", ids.m1, 1),
    post("k2", "hello two", ids.m2, 2),
    post("kb", `b ${canary}`, ids.b1, 1, b.chatgroupId),
    { op: "rt", chatgroupId: a.chatgroupId, seq: 1, id: ids.m1, via: "socket", at: 2 },
    { op: "rt", chatgroupId: a.chatgroupId, seq: 2, id: ids.m2, via: "socket", at: 3 },
    {
      op: "probe",
      name: "isolation: A searches for B's canary",
      ok: true,
      detail: "HTTP 200, 0 hits",
      at: 4,
    },
    { op: "probe", name: "audit: tenant A chain verifies", ok: true, detail: "HTTP 200", at: 4 },
    { op: "drain", tasksSettled: true, readerCaughtUp: true, detail: "", at: 5 },
  ];
}

const check = (entries: JournalEntry[]) =>
  checkSeed({ journal: entries, adminUrl: database.adminUrl, appUrl: database.url });
const failing = (report: SeedReport) =>
  Object.fromEntries(
    report.invariants.filter((i) => i.violations.length > 0).map((i) => [i.name, i.violations.length]),
  );

describe("fault suite checker", () => {
  it("reports 0 violations when the journal and the database agree", async () => {
    const report = await check(journal());
    expect(failing(report)).toEqual({});
    expect(report.violations).toBe(0);
  });

  it("reports a lost acknowledged message, a reorder, a realtime duplicate and a failed probe", async () => {
    const entries = journal();
    const lost: PostEntry = {
      ...(entries[2] as PostEntry),
      clientKey: "k3",
      body: "hello three",
      id: uuidv7(),
      seq: 3,
    } as PostEntry;
    const reordered: PostEntry = { ...(entries[1] as PostEntry), clientKey: "k1-again" } as PostEntry;
    entries.push(lost, reordered);
    entries.push({ op: "rt", chatgroupId: a.chatgroupId, seq: 2, id: ids.m2, via: "socket", at: 6 });
    entries.push({
      op: "probe",
      name: "audit: tenant B chain verifies",
      ok: false,
      detail: "HTTP 200 {ok:false}",
      at: 7,
    });
    const report = await check(entries);
    expect(failing(report)).toEqual({
      // k3: its acknowledged id is missing, and its body is stored 0 times.
      "acknowledged messages stored exactly once": 2,
      // The stream got seq 1 after seq 3.
      "messages in order, seq gap-free": 1,
      "realtime reader: no duplicate, reorder or silent gap": 1,
      "audit chain intact": 1,
    });
  });

  it("reports B's canary in tenant A's data", async () => {
    await insertMessage(a.tenantId, uuidv7(), a.chatgroupId, 3, `leaked ${canary}`);
    const report = await check(journal());
    expect(failing(report)["nothing across tenants"]).toBeGreaterThan(0);
  });

  it("reports a @robot post without a task and an acknowledged write missing from the version chain", async () => {
    const asked = uuidv7();
    await insertMessage(a.tenantId, asked, a.chatgroupId, 4, "@jane echo never-run");
    const entries = journal();
    entries.push(
      {
        ...(entries[1] as PostEntry),
        clientKey: "t1",
        body: "@jane echo never-run",
        id: asked,
        seq: 4,
        task: true,
      } as PostEntry,
      {
        op: "write",
        tenant: "A",
        layer: "chatgroup",
        layerId: a.chatgroupId,
        path: "fault/one.txt",
        sha256: "0".repeat(64),
        ifMatch: null,
        at: 8,
        ack: true,
        version: 1,
        etag: "abc",
      },
    );
    const report = await check(entries);
    expect(failing(report)).toMatchObject({
      "acknowledged tasks terminal with one completion and one reply": 1,
      "no lost ETag update": 1,
    });
  });
});
