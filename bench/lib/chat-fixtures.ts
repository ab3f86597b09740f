// Chat fixtures for the benchmarks that post messages (B2, B5): a tenant with rooms and
// their members, written through the application role (RLS applies), and a way to reset
// the message tables between measurements. Databases and tokens come from fixtures.ts.
import { randomBytes, randomUUID } from "node:crypto";
import { createDb, createPool, type Db, schema, withTenant } from "@perseus/db";
import pg from "pg";

export type BenchDatabase = { adminUrl: string; appUrl: string };

/** Empties the message tables (as the admin) so every measurement starts from the same state. */
export async function resetMessages(database: BenchDatabase): Promise<void> {
  const client = new pg.Client({ connectionString: database.adminUrl });
  await client.connect();
  try {
    await client.query("TRUNCATE messages, outbox, chatgroup_counters CASCADE");
  } finally {
    await client.end();
  }
}

/**
 * Deterministic ids (`<prefix>` + a number in 12 decimal digits) so that a pgbench script
 * can name room `:client_id` and its poster without a lookup.
 */
export const fixtureId = (prefix: string, index: number) => `${prefix}${String(index).padStart(12, "0")}`;
/** Member `member` of room `room`; member 0 is the room's poster. */
export const memberNumber = (room: number, member: number) => room * 1_000 + member;

/** A random UUID prefix (v4-shaped) whose last group the fixture fills in. */
function idPrefix(): string {
  const hex = randomBytes(8).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(12, 15)}-8${randomBytes(2).toString("hex").slice(1)}-`;
}

export type ChatFixture = {
  tenantId: string;
  roomPrefix: string;
  userPrefix: string;
  rooms: string[];
  /** members[room][i]: user ids; member 0 of each room is its poster. */
  members: string[][];
};

/**
 * One tenant, `rooms` team-wide chatgroups, and `membersPerRoom` users in each (a team of
 * its own per room, since team members see the team's chatgroups).
 */
export async function createChatFixture(
  appUrl: string,
  options: { rooms: number; membersPerRoom: number },
): Promise<ChatFixture> {
  const pool = createPool({ url: appUrl, max: 2 });
  const db: Db = createDb(pool);
  try {
    const tenantId = randomUUID();
    const roomPrefix = idPrefix();
    const userPrefix = idPrefix();
    const rooms = Array.from({ length: options.rooms }, (_, i) => fixtureId(roomPrefix, i));
    const members = rooms.map((_, room) =>
      Array.from({ length: options.membersPerRoom }, (_, member) => ({
        id: fixtureId(userPrefix, memberNumber(room, member)),
        handle: `b${randomBytes(6).toString("hex")}`,
      })),
    );
    const users = members.flat();
    for (let i = 0; i < users.length; i += 500) {
      await db.insert(schema.users).values(
        users.slice(i, i + 500).map((user) => ({
          id: user.id,
          email: `${user.handle}@bench.test`,
          name: user.handle,
          handle: user.handle,
        })),
      );
    }
    await withTenant(db, { tenantId }, async (tx) => {
      await tx.insert(schema.tenants).values({ tenantId, name: `bench ${roomPrefix}` });
      await tx
        .insert(schema.memberships)
        .values(users.map((user) => ({ tenantId, userId: user.id, role: "user" as const })));
      for (const [index, chatgroupId] of rooms.entries()) {
        const roomTeam = randomUUID();
        await tx.insert(schema.teams).values({ tenantId, id: roomTeam, name: `room ${index}` });
        await tx
          .insert(schema.teamMembers)
          .values(members[index]!.map((user) => ({ tenantId, teamId: roomTeam, userId: user.id })));
        await tx
          .insert(schema.chatgroups)
          .values({ tenantId, id: chatgroupId, teamId: roomTeam, name: `room-${index}` });
      }
    });
    return {
      tenantId,
      roomPrefix,
      userPrefix,
      rooms,
      members: members.map((room) => room.map((user) => user.id)),
    };
  } finally {
    await pool.end();
  }
}
