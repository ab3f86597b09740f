import type { TokenKind } from "@perseus/contracts";
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import type { Actor } from "../auth-types.js";
import { UnauthenticatedError } from "../errors.js";
import { actorFromToken, bearerToken, type TokenVerifier } from "./verifier.js";

export type AuthPluginOptions = {
  verifier: TokenVerifier;
  /** Token kinds this service accepts on HTTP routes. */
  accept: readonly TokenKind[];
  /** Resolves an `X-API-Key` header to its actor (hashed lookup); omit to refuse API keys. */
  resolveApiKey?: (key: string, request: FastifyRequest) => Promise<Actor>;
  /** Resolves a task token (`ptt_…`, sent as a bearer token) against its live lease; omit to refuse them. */
  resolveTaskToken?: (token: string, request: FastifyRequest) => Promise<Actor>;
};

/** Installs `app.authenticate`: bearer access tokens, or an API key where the service supports them. */
export const authPlugin = fp(
  async (app: FastifyInstance, options: AuthPluginOptions) => {
    app.decorate("authenticate", async (request: FastifyRequest): Promise<Actor> => {
      const apiKey = request.headers["x-api-key"];
      if (typeof apiKey === "string" && options.resolveApiKey) return options.resolveApiKey(apiKey, request);
      const token = bearerToken(request.headers.authorization);
      if (!token) throw new UnauthenticatedError();
      if (token.startsWith("ptt_")) {
        if (!options.resolveTaskToken) throw new UnauthenticatedError("task tokens are not accepted here");
        return options.resolveTaskToken(token, request);
      }
      const verified = await options.verifier.verify(token, options.accept);
      return actorFromToken(verified);
    });
  },
  { name: "perseus-auth", fastify: "5.x" },
);
