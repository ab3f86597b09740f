import type { TenantRole } from "@perseus/contracts";
import { signToken } from "@perseus/kit";
import type { KeyStore } from "../keys/key-store.js";

export type TokenIssuer = {
  user(input: { userId: string; tenantId: string; role: TenantRole; sessionId: string }): Promise<{
    token: string;
    expiresAt: Date;
  }>;
  robot(input: { robotId: string; tenantId: string; handle: string; credentialId: string }): Promise<{
    token: string;
    expiresAt: Date;
  }>;
};

/** Signs access tokens with the key store's current key; claims follow contracts/tokens.ts. */
export function createTokenIssuer(options: {
  keys: KeyStore;
  issuer: string;
  userTtlSeconds: number;
  robotTtlSeconds: number;
}): TokenIssuer {
  return {
    user: (input) =>
      signToken(options.keys.signingKey(), {
        kind: "user",
        issuer: options.issuer,
        subject: input.userId,
        ttlSeconds: options.userTtlSeconds,
        claims: { tid: input.tenantId, role: input.role, sid: input.sessionId },
      }),
    robot: (input) =>
      signToken(options.keys.signingKey(), {
        kind: "robot",
        issuer: options.issuer,
        subject: input.robotId,
        ttlSeconds: options.robotTtlSeconds,
        claims: { tid: input.tenantId, hdl: input.handle, cid: input.credentialId },
      }),
  };
}
