import {
  type FieldIssue,
  PROBLEM_CONTENT_TYPE,
  type Problem,
  type ProblemCode,
  problemStatus,
  problemType,
} from "@perseus/contracts";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from "fastify-type-provider-zod";
import { AppError } from "../errors.js";

const titles: Record<ProblemCode, string> = {
  bad_request: "Bad request",
  validation_failed: "Validation failed",
  unauthenticated: "Authentication required",
  forbidden: "Forbidden",
  not_found: "Not found",
  method_not_allowed: "Method not allowed",
  conflict: "Conflict",
  gone: "Gone",
  precondition_failed: "Precondition failed",
  precondition_required: "Precondition required",
  payload_too_large: "Payload too large",
  unsupported_media_type: "Unsupported media type",
  rate_limited: "Too many requests",
  internal: "Internal error",
  unavailable: "Service unavailable",
  robot_offline: "Robot offline",
  terminal_unsupported: "Terminal not supported",
};

const codeByStatus: Record<number, ProblemCode> = {
  400: "bad_request",
  401: "unauthenticated",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  412: "precondition_failed",
  413: "payload_too_large",
  415: "unsupported_media_type",
  428: "precondition_required",
  429: "rate_limited",
};

const locationByContext: Record<string, FieldIssue["location"]> = {
  body: "body",
  querystring: "query",
  params: "params",
  headers: "headers",
};

// Postgres: admin shutdown, crash shutdown, cannot connect now, connection exceptions.
const PG_OUTAGE = /^(57P0[123]|08\d{3})$/;
const NET_OUTAGE = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"]);
const OUTAGE_MESSAGE =
  /timeout exceeded when trying to connect|Connection terminated|not queryable|Connection is closed|enableOfflineQueue|Command timed out|ECONNREFUSED|ECONNRESET/;

/**
 * Errors that mean "a dependency is down", not "we have a bug": answer 503, retry later.
 * drizzle wraps the driver's error, so the cause chain is searched too.
 */
function isDependencyOutage(error: unknown): boolean {
  let current = error as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = typeof current.code === "string" ? current.code : "";
    if (PG_OUTAGE.test(code) || NET_OUTAGE.has(code) || current.name === "MaxRetriesPerRequestError")
      return true;
    if (typeof current.message === "string" && OUTAGE_MESSAGE.test(current.message)) return true;
    current = current.cause as typeof current;
  }
  return false;
}

export function toProblem(
  error: unknown,
  requestId: string,
): { problem: Problem; headers: Record<string, string> } {
  const make = (code: ProblemCode, detail: string, extra: Partial<Problem> = {}): Problem => ({
    type: problemType(code),
    title: titles[code],
    status: problemStatus[code],
    code,
    detail,
    requestId,
    ...extra,
  });

  if (error instanceof AppError) {
    const extra: Partial<Problem> = {};
    if (error.details.errors) extra.errors = error.details.errors;
    if (error.details.retryAfter !== undefined) extra.retryAfter = error.details.retryAfter;
    return { problem: make(error.code, error.message, extra), headers: error.details.headers ?? {} };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const location =
      locationByContext[(error as { validationContext?: string }).validationContext ?? "body"] ?? "body";
    const errors = error.validation.map((issue) => ({
      location,
      path: issue.instancePath.replace(/^\//, "").replaceAll("/", "."),
      message: issue.message ?? "invalid",
    }));
    const first = errors[0];
    const detail = first
      ? `${location}${first.path ? `.${first.path}` : ""}: ${first.message}`
      : "invalid request";
    return { problem: make("validation_failed", detail, { errors }), headers: {} };
  }
  const fastifyError = error as FastifyError;
  const status = fastifyError.statusCode;
  if (status && status >= 400 && status < 500 && !isResponseSerializationError(error)) {
    const code = codeByStatus[status] ?? "bad_request";
    // Fastify's own 4xx messages (bad JSON, body too large, ...) are safe to show.
    return { problem: make(code, fastifyError.message), headers: {} };
  }
  if (isDependencyOutage(error)) {
    return {
      problem: make("unavailable", "a dependency is unavailable; retry shortly", { retryAfter: 1 }),
      headers: { "retry-after": "1" },
    };
  }
  return {
    problem: make("internal", "an internal error occurred; quote the request id when reporting it"),
    headers: {},
  };
}

export function sendProblem(reply: FastifyReply, problem: Problem, headers: Record<string, string> = {}) {
  return reply.code(problem.status).headers(headers).type(PROBLEM_CONTENT_TYPE).send(problem);
}

/** One error handler for the whole service: everything leaves as problem+json, 5xx details stay in the log. */
export const errorsPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error, request: FastifyRequest, reply: FastifyReply) => {
      const { problem, headers } = toProblem(error, request.id);
      if (problem.status >= 500) request.log.error({ err: error }, "request failed");
      else request.log.info({ code: problem.code, detail: problem.detail }, "request rejected");
      return sendProblem(reply, problem, headers);
    });
    app.setNotFoundHandler((request, reply) => {
      const { problem } = toProblem(
        new AppError("not_found", `no route ${request.method} ${request.url.split("?")[0]}`),
        request.id,
      );
      return sendProblem(reply, problem);
    });
  },
  { name: "perseus-errors", fastify: "5.x" },
);
