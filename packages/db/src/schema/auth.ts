import { sql } from "drizzle-orm";
import {
  boolean,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  unique,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { createdAt, tenantId, ts } from "./columns.js";

// ---- global identity (not tenant-scoped: a person may belong to many tenants) ----

export const users = pgTable(
  "users",
  {
    id: uuid().primaryKey(),
    email: text().notNull(),
    name: text().notNull(),
    handle: text().notNull(),
    passwordHash: text(),
    emailVerified: boolean().notNull().default(false),
    status: text().notNull().default("active"),
    /** Tokens issued before this instant are rejected (logout everywhere, disable). */
    tokensNotBefore: ts(),
    failedLogins: integer().notNull().default(0),
    lockedUntil: ts(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("users_email_lower_key").on(sql`lower(${t.email})`)],
);

export const oidcIdentities = pgTable(
  "oidc_identities",
  {
    issuer: text().notNull(),
    subject: text().notNull(),
    userId: uuid()
      .notNull()
      .references(() => users.id),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.issuer, t.subject] })],
);

/** Refresh credentials: rotated on each use; reuse of a rotated one revokes the family. */
export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    id: uuid().primaryKey(),
    familyId: uuid().notNull(),
    userId: uuid()
      .notNull()
      .references(() => users.id),
    tokenHash: text().notNull().unique(),
    tenantId: uuid(),
    expiresAt: ts().notNull(),
    usedAt: ts(),
    /** The credential this one was rotated into (a retry within the grace window re-issues it). */
    replacedBy: uuid(),
    /** Set when the one lost-response retry allowed within the grace window was spent. */
    graceUsedAt: ts(),
    revokedAt: ts(),
    createdAt: createdAt(),
  },
  (t) => [index().on(t.familyId), index().on(t.userId)],
);

/** Token signing keys (JWKS). Several may be published while one signs (rotation overlap). */
export const signingKeys = pgTable("signing_keys", {
  kid: text().primaryKey(),
  alg: text().notNull(),
  publicJwk: jsonb().notNull(),
  privateJwk: jsonb().notNull(),
  createdAt: createdAt(),
  activatedAt: ts(),
  retiredAt: ts(),
});

// ---- tenancy ---------------------------------------------------------------

export const tenants = pgTable("tenants", {
  tenantId: uuid().primaryKey(),
  name: text().notNull(),
  status: text().notNull().default("active"),
  createdAt: createdAt(),
});

export const memberships = pgTable(
  "memberships",
  {
    tenantId: tenantId().references(() => tenants.tenantId),
    userId: uuid()
      .notNull()
      .references(() => users.id),
    role: text().notNull(),
    /** A disabled member keeps their data but cannot sign in to this tenant. */
    disabledAt: ts(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.userId] }), index().on(t.userId)],
);

export const teams = pgTable(
  "teams",
  {
    tenantId: tenantId().references(() => tenants.tenantId),
    id: uuid().notNull(),
    name: text().notNull(),
    archivedAt: ts(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] })],
);

export const teamMembers = pgTable(
  "team_members",
  {
    tenantId: tenantId(),
    teamId: uuid().notNull(),
    userId: uuid().notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.teamId, t.userId] }),
    foreignKey({ columns: [t.tenantId, t.teamId], foreignColumns: [teams.tenantId, teams.id] }),
    foreignKey({
      columns: [t.tenantId, t.userId],
      foreignColumns: [memberships.tenantId, memberships.userId],
    }).onDelete("cascade"),
  ],
);

export const chatgroups = pgTable(
  "chatgroups",
  {
    tenantId: tenantId(),
    id: uuid().notNull(),
    teamId: uuid().notNull(),
    name: text().notNull(),
    /** "team": every team member may read it; "private": only explicit members. */
    visibility: text().notNull().default("team"),
    archivedAt: ts(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    foreignKey({ columns: [t.tenantId, t.teamId], foreignColumns: [teams.tenantId, teams.id] }),
  ],
);

export const chatgroupMembers = pgTable(
  "chatgroup_members",
  {
    tenantId: tenantId(),
    chatgroupId: uuid().notNull(),
    userId: uuid().notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.chatgroupId, t.userId] }),
    foreignKey({
      columns: [t.tenantId, t.chatgroupId],
      foreignColumns: [chatgroups.tenantId, chatgroups.id],
    }),
    foreignKey({
      columns: [t.tenantId, t.userId],
      foreignColumns: [memberships.tenantId, memberships.userId],
    }).onDelete("cascade"),
  ],
);

export const invites = pgTable(
  "invites",
  {
    tenantId: tenantId(),
    id: uuid().notNull(),
    tokenHash: text().notNull(),
    role: text().notNull(),
    email: text(),
    createdBy: uuid().notNull(),
    expiresAt: ts().notNull(),
    acceptedAt: ts(),
    acceptedBy: uuid(),
    revokedAt: ts(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] })],
);

// ---- robots ----------------------------------------------------------------

export const robots = pgTable(
  "robots",
  {
    tenantId: tenantId().references(() => tenants.tenantId),
    id: uuid().notNull(),
    handle: text().notNull(),
    name: text().notNull(),
    description: text().notNull().default(""),
    capabilities: jsonb().$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    /** Central configuration (executor, allow/deny lists, model profiles without secrets). */
    config: jsonb().notNull().default(sql`'{}'::jsonb`),
    configVersion: integer().notNull().default(1),
    maxConcurrency: integer().notNull().default(1),
    createdBy: uuid(),
    revokedAt: ts(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), unique().on(t.tenantId, t.handle)],
);

/** Where a robot may be invoked: a whole team or one chatgroup. */
export const robotScopes = pgTable(
  "robot_scopes",
  {
    tenantId: tenantId(),
    robotId: uuid().notNull(),
    scopeType: text().notNull(),
    scopeId: uuid().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.robotId, t.scopeType, t.scopeId] }),
    foreignKey({ columns: [t.tenantId, t.robotId], foreignColumns: [robots.tenantId, robots.id] }).onDelete(
      "cascade",
    ),
  ],
);

/** Long-lived robot credentials: shown once, stored as a hash, exchanged for access tokens. */
export const robotCredentials = pgTable(
  "robot_credentials",
  {
    tenantId: tenantId(),
    id: uuid().notNull(),
    robotId: uuid().notNull(),
    secretHash: text().notNull(),
    lastUsedAt: ts(),
    revokedAt: ts(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    foreignKey({ columns: [t.tenantId, t.robotId], foreignColumns: [robots.tenantId, robots.id] }).onDelete(
      "cascade",
    ),
  ],
);

export const apiKeys = pgTable(
  "api_keys",
  {
    tenantId: tenantId(),
    id: uuid().notNull(),
    name: text().notNull(),
    secretHash: text().notNull(),
    scopes: jsonb().$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    /** Requests per minute allowed for this key. */
    rateLimit: integer().notNull().default(600),
    createdBy: uuid().notNull(),
    expiresAt: ts(),
    lastUsedAt: ts(),
    revokedAt: ts(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] })],
);
