// Wire schemas of the auth service: REST bodies, queries, responses and its route table.
import { z } from "zod";
import { CursorQuery, Handle, Id, Timestamp } from "./common.js";
import { Capability } from "./robot-protocol.js";
import { TenantRole } from "./tokens.js";

// ---- shared pieces -----------------------------------------------------------

export const Email = z.email().max(254);
export type Email = z.infer<typeof Email>;
/** Long passphrases welcome; the upper bound keeps hashing cheap to refuse. */
export const Password = z.string().min(10).max(256);
export const DisplayName = z.string().trim().min(1).max(100);
export const EntityName = z.string().trim().min(1).max(100);

export const UserSummary = z.object({ id: Id, email: z.string(), name: z.string(), handle: z.string() });
export type UserSummary = z.infer<typeof UserSummary>;

export const TenantSummary = z.object({ id: Id, name: z.string(), role: TenantRole });
export type TenantSummary = z.infer<typeof TenantSummary>;

/**
 * A signed-in session: a short-lived access token (send as `Authorization: Bearer`).
 * The refresh credential travels only in an httpOnly cookie scoped to `/api/auth`.
 */
export const SessionResponse = z.object({
  accessToken: z.string(),
  tokenType: z.literal("Bearer"),
  expiresAt: Timestamp,
  sessionId: Id,
  user: UserSummary,
  tenant: TenantSummary,
});
export type SessionResponse = z.infer<typeof SessionResponse>;

export const EmptyResponse = z.object({});

// ---- sign-up, sessions -----------------------------------------------------------

export const SignupBody = z.object({
  email: Email,
  password: Password,
  name: DisplayName,
  handle: Handle,
  tenantName: EntityName,
});
export type SignupBody = z.infer<typeof SignupBody>;

export const SignupResponse = SessionResponse.extend({ teamId: Id, chatgroupId: Id });
export type SignupResponse = z.infer<typeof SignupResponse>;

export const LoginBody = z.object({
  email: Email,
  password: z.string().min(1).max(256),
  /** Sign in to this tenant (default: the one used last, else the first joined). */
  tenantId: Id.optional(),
});
export type LoginBody = z.infer<typeof LoginBody>;

export const SwitchTenantBody = z.object({ tenantId: Id });
export type SwitchTenantBody = z.infer<typeof SwitchTenantBody>;

export const MeResponse = z.object({
  user: UserSummary,
  tenant: TenantSummary,
  /** Every tenant the user belongs to (for the tenant switcher). */
  memberships: z.array(TenantSummary),
});
export type MeResponse = z.infer<typeof MeResponse>;

// ---- OIDC sign-in (authorization code + PKCE) ------------------------------------

export const OidcStartQuery = z.object({ tenantId: Id.optional() });
export type OidcStartQuery = z.infer<typeof OidcStartQuery>;
export const OidcCallbackQuery = z.object({
  code: z.string().min(1).max(2048).optional(),
  state: z.string().min(1).max(512).optional(),
  error: z.string().max(200).optional(),
  error_description: z.string().max(1000).optional(),
  iss: z.string().max(500).optional(),
});
export type OidcCallbackQuery = z.infer<typeof OidcCallbackQuery>;

// ---- signing keys --------------------------------------------------------------

export const Jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });
export type Jwks = z.infer<typeof Jwks>;

export const SigningKeyInfo = z.object({
  kid: z.string(),
  alg: z.string(),
  status: z.enum(["pending", "active", "retiring", "retired"]),
  createdAt: Timestamp,
  activatedAt: Timestamp.nullable(),
  retiredAt: Timestamp.nullable(),
});
export type SigningKeyInfo = z.infer<typeof SigningKeyInfo>;

// ---- tenant, members -------------------------------------------------------------

export const Tenant = z.object({ id: Id, name: z.string(), createdAt: Timestamp });
export type Tenant = z.infer<typeof Tenant>;
export const UpdateTenantBody = z.object({ name: EntityName });
export type UpdateTenantBody = z.infer<typeof UpdateTenantBody>;

export const Member = z.object({
  userId: Id,
  email: z.string(),
  name: z.string(),
  handle: z.string(),
  role: TenantRole,
  disabled: z.boolean(),
  joinedAt: Timestamp,
});
export type Member = z.infer<typeof Member>;

export const UserParams = z.object({ userId: Id });
export type UserParams = z.infer<typeof UserParams>;
export const UpdateMemberBody = z.object({ role: TenantRole });
export type UpdateMemberBody = z.infer<typeof UpdateMemberBody>;
export const TransferOwnershipBody = z.object({ userId: Id });
export type TransferOwnershipBody = z.infer<typeof TransferOwnershipBody>;

// ---- teams, chatgroups -------------------------------------------------------------

export const Team = z.object({ id: Id, name: z.string(), archived: z.boolean(), createdAt: Timestamp });
export type Team = z.infer<typeof Team>;
export const CreateTeamBody = z.object({ name: EntityName });
export type CreateTeamBody = z.infer<typeof CreateTeamBody>;
export const UpdateTeamBody = z.object({ name: EntityName });
export type UpdateTeamBody = z.infer<typeof UpdateTeamBody>;

export const ListQuery = z.object({
  includeArchived: z
    .enum(["true", "false"])
    .default("false")
    .transform((value) => value === "true"),
});
export type ListQuery = z.infer<typeof ListQuery>;

export const ScopedMember = z.object({ userId: Id, name: z.string(), handle: z.string() });
export type ScopedMember = z.infer<typeof ScopedMember>;
export const ScopedMemberParams = z.object({ id: Id, userId: Id });
export type ScopedMemberParams = z.infer<typeof ScopedMemberParams>;

export const ChatgroupVisibility = z.enum(["team", "private"]);
export type ChatgroupVisibility = z.infer<typeof ChatgroupVisibility>;

export const Chatgroup = z.object({
  id: Id,
  teamId: Id,
  name: z.string(),
  visibility: ChatgroupVisibility,
  archived: z.boolean(),
  createdAt: Timestamp,
});
export type Chatgroup = z.infer<typeof Chatgroup>;
export const CreateChatgroupBody = z.object({
  teamId: Id,
  name: EntityName,
  visibility: ChatgroupVisibility.default("team"),
  /** Explicit members of a private chatgroup (the creator is always one). */
  memberIds: z.array(Id).max(200).default([]),
});
export type CreateChatgroupBody = z.infer<typeof CreateChatgroupBody>;
export const UpdateChatgroupBody = z.object({ name: EntityName });
export type UpdateChatgroupBody = z.infer<typeof UpdateChatgroupBody>;
export const ChatgroupListQuery = ListQuery.extend({ teamId: Id.optional() });
export type ChatgroupListQuery = z.infer<typeof ChatgroupListQuery>;

// ---- invites ---------------------------------------------------------------------

export const InviteStatus = z.enum(["pending", "accepted", "revoked", "expired"]);
export const Invite = z.object({
  id: Id,
  role: TenantRole,
  email: z.string().nullable(),
  status: InviteStatus,
  expiresAt: Timestamp,
  createdAt: Timestamp,
});
export type Invite = z.infer<typeof Invite>;
export const CreateInviteBody = z.object({
  role: z.enum(["admin", "user"]).default("user"),
  /** When set, only a person signing in with this email may accept. */
  email: Email.optional(),
  ttlHours: z.number().int().min(1).max(720).default(168),
});
export type CreateInviteBody = z.infer<typeof CreateInviteBody>;
/** The invite token is shown once, here; only its hash is stored. */
export const CreateInviteResponse = z.object({ invite: Invite, token: z.string(), link: z.string() });
export type CreateInviteResponse = z.infer<typeof CreateInviteResponse>;

export const INVITE_TOKEN_PATTERN = /^pin_([0-9a-f-]{36})_([0-9a-f-]{36})_([A-Za-z0-9_-]{43})$/;
export const InviteToken = z.string().max(200);
export const AcceptInviteBody = z.object({ token: InviteToken });
export type AcceptInviteBody = z.infer<typeof AcceptInviteBody>;
export const AcceptInviteSignupBody = z.object({
  token: InviteToken,
  email: Email,
  password: Password,
  name: DisplayName,
  handle: Handle,
});
export type AcceptInviteSignupBody = z.infer<typeof AcceptInviteSignupBody>;

// ---- robots ----------------------------------------------------------------------

/** Where a robot may be invoked: anywhere in the tenant, in whole teams, or in single chatgroups. */
export const RobotScopes = z.object({
  tenant: z.boolean().default(false),
  teamIds: z.array(Id).max(100).default([]),
  chatgroupIds: z.array(Id).max(200).default([]),
});
export type RobotScopes = z.infer<typeof RobotScopes>;

export const Robot = z.object({
  id: Id,
  handle: Handle,
  name: z.string(),
  description: z.string(),
  capabilities: z.array(Capability),
  maxConcurrency: z.number().int(),
  scopes: RobotScopes,
  configVersion: z.number().int(),
  revokedAt: Timestamp.nullable(),
  createdAt: Timestamp,
});
export type Robot = z.infer<typeof Robot>;

export const CreateRobotBody = z.object({
  handle: Handle,
  name: EntityName,
  description: z.string().max(2000).default(""),
  capabilities: z.array(Capability).max(16).default([]),
  maxConcurrency: z.number().int().min(1).max(64).default(1),
  scopes: RobotScopes.default({ tenant: true, teamIds: [], chatgroupIds: [] }),
});
export type CreateRobotBody = z.infer<typeof CreateRobotBody>;

export const UpdateRobotBody = z
  .object({
    handle: Handle,
    name: EntityName,
    description: z.string().max(2000),
    capabilities: z.array(Capability).max(16),
    maxConcurrency: z.number().int().min(1).max(64),
    scopes: RobotScopes,
  })
  .partial()
  .refine((body) => Object.keys(body).length > 0, "send at least one field");
export type UpdateRobotBody = z.infer<typeof UpdateRobotBody>;

const Pattern = z.string().min(1).max(500);
/** A model the robot may use; secrets (API keys) stay on the robot's host, never here. */
export const ModelProfile = z.strictObject({
  name: z.string().min(1).max(64),
  provider: z.string().min(1).max(64),
  model: z.string().min(1).max(128),
  baseUrl: z.url().max(500).optional(),
  temperature: z.number().min(0).max(2).optional(),
  maxOutputTokens: z.number().int().min(1).max(1_000_000).optional(),
  /** Prices in USD per million tokens: the robot reports each task's cost from them. */
  inputUsdPerMTok: z.number().min(0).max(10_000).optional(),
  outputUsdPerMTok: z.number().min(0).max(10_000).optional(),
});
export type ModelProfile = z.infer<typeof ModelProfile>;

/**
 * A robot's central configuration, pushed to it by dispatch (`config` frame). Strict:
 * unknown keys are refused, so a secret cannot slip in under a new name.
 */
export const RobotConfig = z.strictObject({
  executor: z.enum(["shell", "command", "agent"]),
  /** Command templates; `{prompt}`, `{workdir}` and `{taskId}` are substituted on the robot. */
  commands: z
    .array(z.strictObject({ name: z.string().min(1).max(64), template: z.string().min(1).max(2000) }))
    .max(50)
    .default([]),
  allow: z.array(Pattern).max(200).default([]),
  deny: z.array(Pattern).max(200).default([]),
  modelProfiles: z.array(ModelProfile).max(20).default([]),
  defaultModelProfile: z.string().max(64).optional(),
  limits: z
    .strictObject({
      maxRuntimeSeconds: z.number().int().min(1).max(86_400).default(900),
      maxOutputBytes: z.number().int().min(1024).max(50_000_000).default(1_000_000),
      maxConcurrency: z.number().int().min(1).max(64).optional(),
    })
    .default({ maxRuntimeSeconds: 900, maxOutputBytes: 1_000_000 }),
});
export type RobotConfig = z.infer<typeof RobotConfig>;

export const RobotConfigResponse = z.object({
  version: z.number().int(),
  settings: z.record(z.string(), z.unknown()),
});
export type RobotConfigResponse = z.infer<typeof RobotConfigResponse>;
export const PutRobotConfigBody = z.strictObject({
  settings: RobotConfig,
  /** Optimistic concurrency: refuse (412) unless the stored version is this one. */
  expectedVersion: z.number().int().min(1).optional(),
});
export type PutRobotConfigBody = z.infer<typeof PutRobotConfigBody>;

export const RobotCredential = z.object({
  id: Id,
  robotId: Id,
  createdAt: Timestamp,
  lastUsedAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
});
export type RobotCredential = z.infer<typeof RobotCredential>;
/** `secret` is shown once: `prc_<tenantId>_<credentialId>_<secret>`. */
export const CreateRobotCredentialResponse = z.object({ credential: RobotCredential, secret: z.string() });
export type CreateRobotCredentialResponse = z.infer<typeof CreateRobotCredentialResponse>;
export const ROBOT_CREDENTIAL_PATTERN = /^prc_([0-9a-f-]{36})_([0-9a-f-]{36})_([A-Za-z0-9_-]{43})$/;
export const RobotCredentialParams = z.object({ id: Id, credentialId: Id });
export type RobotCredentialParams = z.infer<typeof RobotCredentialParams>;

export const RobotTokenBody = z.object({ credential: z.string().min(1).max(200) });
export type RobotTokenBody = z.infer<typeof RobotTokenBody>;
export const RobotTokenResponse = z.object({
  accessToken: z.string(),
  tokenType: z.literal("Bearer"),
  expiresAt: Timestamp,
  robot: z.object({ id: Id, tenantId: Id, handle: Handle, name: z.string() }),
});
export type RobotTokenResponse = z.infer<typeof RobotTokenResponse>;

export const RobotSelfResponse = z.object({ robot: Robot, config: RobotConfigResponse });
export type RobotSelfResponse = z.infer<typeof RobotSelfResponse>;

// ---- API keys --------------------------------------------------------------------

/** What an API key may do; a key never gets more than its creator's role allows. */
export const ApiKeyScope = z.enum([
  "tenant:read",
  "members:read",
  "teams:read",
  "teams:write",
  "chatgroups:read",
  "chatgroups:write",
  "robots:read",
  "robots:write",
  "audit:read",
  "messages:read",
  "messages:write",
  "tasks:read",
  "tasks:write",
  "files:read",
  "files:write",
]);
export type ApiKeyScope = z.infer<typeof ApiKeyScope>;

export const ApiKey = z.object({
  id: Id,
  name: z.string(),
  scopes: z.array(ApiKeyScope),
  rateLimit: z.number().int(),
  createdBy: Id,
  expiresAt: Timestamp.nullable(),
  lastUsedAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
  createdAt: Timestamp,
});
export type ApiKey = z.infer<typeof ApiKey>;
export const CreateApiKeyBody = z.object({
  name: EntityName,
  scopes: z.array(ApiKeyScope).min(1).max(20),
  expiresAt: Timestamp.optional(),
  /** Requests per minute for this key. */
  rateLimit: z.number().int().min(1).max(100_000).default(600),
});
export type CreateApiKeyBody = z.infer<typeof CreateApiKeyBody>;
/** `key` is shown once: `pak_<tenantId>_<keyId>_<secret>`, sent as `X-API-Key`. */
export const CreateApiKeyResponse = z.object({ apiKey: ApiKey, key: z.string() });
export type CreateApiKeyResponse = z.infer<typeof CreateApiKeyResponse>;
export const API_KEY_PATTERN = /^pak_([0-9a-f-]{36})_([0-9a-f-]{36})_([A-Za-z0-9_-]{43})$/;

// ---- audit, system -----------------------------------------------------------------

export const AuditEvent = z.object({
  seq: z.number().int(),
  actorType: z.string(),
  actorId: Id.nullable(),
  action: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  ip: z.string().nullable(),
  requestId: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  occurredAt: Timestamp,
});
export type AuditEvent = z.infer<typeof AuditEvent>;
export const AuditQuery = CursorQuery.extend({
  action: z.string().max(100).optional(),
  actorId: Id.optional(),
  from: Timestamp.optional(),
  to: Timestamp.optional(),
});
export type AuditQuery = z.infer<typeof AuditQuery>;
export const AuditVerifyResponse = z.object({
  ok: z.boolean(),
  problems: z.array(z.object({ seq: z.number().int(), problem: z.string() })),
});
export type AuditVerifyResponse = z.infer<typeof AuditVerifyResponse>;

export const ServiceInstance = z.object({
  service: z.string(),
  version: z.string(),
  instanceId: z.string(),
  address: z.string(),
  startedAt: z.string(),
  lastSeenAt: z.string(),
});
export const InstancesResponse = z.object({ items: z.array(ServiceInstance) });
