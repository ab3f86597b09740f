import { appendFileSync, readFileSync, writeFileSync } from "node:fs";

export type TenantKey = "A" | "B";

/** What the suite set up: the ids the checker needs to read the database. */
export type SetupEntry = {
  op: "setup";
  seed: number;
  durationMs: number;
  canary: string;
  tenants: Record<TenantKey, { tenantId: string; userId: string; chatgroupIds: string[] }>;
  robotId: string;
};

/** A chat post. Acknowledged: the API answered 200/201 with the message (maybe after retries with the same clientKey). */
export type PostEntry = {
  op: "post";
  /** The sequential client that posted it: its acknowledged posts must appear in this order. */
  stream: string;
  tenant: TenantKey;
  chatgroupId: string;
  clientKey: string;
  body: string;
  /** A `@jane …` post: it must turn into exactly one task. */
  task: boolean;
  attempts: number;
  at: number;
} & ({ ack: true; id: string; seq: number } | { ack: false; error: string });

/** A compare-and-set workspace write. Acknowledged: 200/201 with the new entry. */
export type WriteEntry = {
  op: "write";
  tenant: TenantKey;
  layer: "tenant" | "team" | "chatgroup";
  layerId: string;
  path: string;
  sha256: string;
  ifMatch: string | null;
  at: number;
} & ({ ack: true; version: number; etag: string } | { ack: false; error: string });

/** A message the realtime reader received (live or replayed), or fetched over REST to repair a gap. */
export type RealtimeEntry = {
  op: "rt";
  chatgroupId: string;
  seq: number;
  id: string;
  via: "socket" | "repair";
  at: number;
};

export type RealtimeEventEntry = {
  op: "rt-event";
  kind: "connected" | "closed" | "subscribed" | "reload_required" | "gap" | "error";
  chatgroupId?: string;
  detail?: string;
  at: number;
};

export type FaultEntry = {
  op: "fault";
  index: number;
  kind: string;
  target: string;
  phase: "start" | "end" | "error";
  detail?: string;
  at: number;
};

/** A check made through the API before the platform stopped (cross-tenant reads, audit verification). */
export type ProbeEntry = { op: "probe"; name: string; ok: boolean; detail: string; at: number };

/** Where the realtime reader stood per chatgroup, and the database's last seq, at the end of the drain. */
export type DrainEntry = {
  op: "drain";
  tasksSettled: boolean;
  readerCaughtUp: boolean;
  detail: string;
  at: number;
};

export type JournalEntry =
  | SetupEntry
  | PostEntry
  | WriteEntry
  | RealtimeEntry
  | RealtimeEventEntry
  | FaultEntry
  | ProbeEntry
  | DrainEntry;

/** Distributes Omit over a union, so each variant keeps its own fields. */
type WithoutAt<T> = T extends unknown ? Omit<T, "at"> : never;

export type Journal = {
  readonly path: string;
  /** Appends one line (synchronously: a crash of the suite keeps everything written so far). */
  write(entry: WithoutAt<JournalEntry>): void;
};

export function createJournal(path: string): Journal {
  writeFileSync(path, "");
  return {
    path,
    write(entry) {
      appendFileSync(path, `${JSON.stringify({ ...entry, at: Date.now() })}\n`);
    },
  };
}

export function readJournal(path: string): JournalEntry[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as JournalEntry);
}
