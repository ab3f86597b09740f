import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import helmet, { type HelmetOptions } from "helmet";

/**
 * The headers helmet would set for `options`, computed once. Helmet's middleware builds
 * and re-parses its whole configuration on every call, which cost about a fifth of a
 * small authenticated request; the result only depends on the options (which therefore
 * must not hold per-request values such as CSP nonce functions).
 */
export function securityHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  let failure: unknown;
  helmet(options)({} as never, response as never, (error?: unknown) => {
    failure = error;
  });
  if (failure) throw failure;
  return headers;
}

/**
 * Security headers and the request id on every response. One synchronous hook copies a
 * precomputed header set into the reply; routes can still override any header.
 */
export const responseHeadersPlugin = fp(
  async (app: FastifyInstance, options: { helmet: HelmetOptions }) => {
    const headers = Object.entries(securityHeaders(options.helmet));
    app.addHook("onRequest", (request, reply, done) => {
      for (const [name, value] of headers) reply.header(name, value);
      reply.header("x-request-id", request.id);
      done();
    });
  },
  { name: "perseus-response-headers", fastify: "5.x" },
);
