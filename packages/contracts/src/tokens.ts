import { z } from "zod";
import { Handle, Id } from "./common.js";

/**
 * Access tokens are ES256 JWTs with a distinct `typ` header per kind; a verifier is
 * told which kinds it accepts, so a robot token can never pass as a user's and back.
 */
export const TOKEN_ALGORITHM = "ES256";
export const TOKEN_AUDIENCE = "perseus";

export const tokenTypes = {
  user: "perseus-user+jwt",
  robot: "perseus-robot+jwt",
} as const;
export type TokenKind = keyof typeof tokenTypes;

export const TenantRole = z.enum(["owner", "admin", "user"]);
export type TenantRole = z.infer<typeof TenantRole>;

const common = {
  iss: z.string(),
  aud: z.union([z.string(), z.array(z.string())]),
  iat: z.number().int(),
  exp: z.number().int(),
  jti: z.string(),
  /** Issue time in milliseconds: revocation compares against it. */
  ims: z.number().int(),
  tid: Id,
};

export const UserTokenClaims = z.object({ ...common, sub: Id, role: TenantRole, sid: Id });
export type UserTokenClaims = z.infer<typeof UserTokenClaims>;

export const RobotTokenClaims = z.object({ ...common, sub: Id, hdl: Handle, cid: Id });
export type RobotTokenClaims = z.infer<typeof RobotTokenClaims>;

/**
 * Task tokens are not JWTs: `ptt_<tenantId>_<taskId>_<secret>`, minted by dispatch at
 * each lease grant and stored hashed on the task. A service checks them against the
 * live lease in Postgres (by the database clock), so they die with the lease.
 */
export const TASK_TOKEN_PATTERN = /^ptt_([0-9a-f-]{36})_([0-9a-f-]{36})_([A-Za-z0-9_-]{32,64})$/;

/** What can be revoked, and how revocation entries are keyed. */
export const RevocationKind = z.enum(["user", "session", "robot", "credential", "api_key"]);
export type RevocationKind = z.infer<typeof RevocationKind>;
