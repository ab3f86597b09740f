import { isTracingEnabled } from "@perseus/tracing";
import { type FastifyReply, type FastifyRequest, LogController } from "fastify";
import pino, { type LoggerOptions } from "pino";
import { traceLogMixin } from "./tracing.js";

const CENSOR = "[redacted]";
/** Fields censored wherever they appear one level down in a log line (`{ body: { password } }`). */
const SECRET_FIELDS = ["password", "token", "refreshToken", "credential", "secret"];
/** Headers censored in any logged `headers` object (`{ req: { headers: { authorization } } }`). */
const SECRET_HEADERS = ["authorization", "cookie", "x-api-key", "sec-websocket-protocol", "set-cookie"];
const HEADERS_FIELD_SECRETS = [...SECRET_FIELDS, ...SECRET_HEADERS];

const hasAny = (value: object, keys: string[]) => keys.some((key) => Object.hasOwn(value, key));

/** A copy of `value` with its own `keys` censored; keeps the prototype (errors stay errors). */
function censored<T extends object>(value: T, keys: string[]): T {
  const copy = Array.isArray(value)
    ? [...value]
    : Object.create(Object.getPrototypeOf(value), Object.getOwnPropertyDescriptors(value));
  for (const key of keys) if (Object.hasOwn(copy, key)) copy[key] = CENSOR;
  return copy as T;
}

const isObject = (value: unknown): value is object => value !== null && typeof value === "object";

/**
 * Censors secrets in one logged value: its own secret fields, and secret headers of its
 * `headers` (or its own, when the value is itself the `headers` field). Returns the value
 * itself when there is nothing to hide, which is almost always: a check of a few keys,
 * where pino's wildcard redaction cloned and re-serialised every field of every line.
 */
export function redactSecrets<T>(value: T, key?: string): T {
  if (!isObject(value)) return value;
  const secrets = key === "headers" ? HEADERS_FIELD_SECRETS : SECRET_FIELDS;
  let result: object = value;
  if (hasAny(result, secrets)) result = censored(result, secrets);
  const headers = (result as { headers?: unknown }).headers;
  if (isObject(headers) && hasAny(headers, SECRET_HEADERS)) {
    if (result === value) result = censored(result, []);
    (result as { headers: object }).headers = censored(headers, SECRET_HEADERS);
  }
  return result as T;
}

const errorSerializer = pino.stdSerializers.err;
const pathOf = (url: string) => {
  const query = url.indexOf("?");
  return query < 0 ? url : url.slice(0, query);
};

/** Pino settings shared by every service: JSON lines, secrets redacted, service identity on each line. */
export function loggerOptions(options: {
  level: string;
  service: string;
  instanceId: string;
}): LoggerOptions {
  // Keys with a serializer are censored on the serializer's output (req and res emit no
  // headers at all); every other key of a line's object is censored here.
  const serializers = {
    // Query strings may carry a token (WebSocket upgrades): log the path only.
    req: (req: { method: string; url: string; id: string }) => ({
      method: req.method,
      url: pathOf(req.url),
      id: req.id,
    }),
    res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    err: (error: Error) => redactSecrets(errorSerializer(error)),
  };
  return {
    level: options.level,
    base: { service: options.service, instance: options.instanceId },
    // With tracing on, lines logged inside a span carry its trace_id and span_id.
    ...(isTracingEnabled() ? { mixin: traceLogMixin } : {}),
    serializers,
    formatters: {
      log(object) {
        let result = object;
        for (const key of Object.keys(object)) {
          if (Object.hasOwn(serializers, key)) continue;
          const value = object[key];
          const safe = redactSecrets(value, key);
          if (safe !== value) {
            if (result === object) result = { ...object };
            result[key] = safe;
          }
        }
        return result;
      },
    },
  };
}

/** Bytes of log lines the asynchronous stdout buffer may hold before it drops lines. */
const LOG_BUFFER_LIMIT = 16 * 1024 * 1024;
let stdoutDestination: ReturnType<typeof pino.destination> | undefined;

/**
 * Lines go to stdout asynchronously: a line is written at once when stdout is idle and,
 * while a write is in flight, the next lines gather into one write. So a quiet service's
 * lines appear immediately, and a busy one makes one write per batch instead of one per
 * line (the access line's write was the largest cost of a small authenticated route).
 * The buffer is bounded: lines that would outgrow it are dropped and counted, so a stalled
 * stdout cannot grow memory without bound. Pino flushes it synchronously on exit; a
 * SIGKILL can lose what was still buffered.
 */
function asyncStdout(): ReturnType<typeof pino.destination> {
  if (stdoutDestination) return stdoutDestination;
  const destination = pino.destination({ dest: 1, sync: false, minLength: 0, maxLength: LOG_BUFFER_LIMIT });
  let dropped = 0;
  destination.on("drop", () => {
    dropped += 1;
    // Said once per burst, straight to stderr (stdout is the congested stream).
    if (dropped === 1)
      setTimeout(() => {
        process.stderr.write(
          `${JSON.stringify({ level: 40, msg: "log lines dropped: stdout is not keeping up", dropped })}\n`,
        );
        dropped = 0;
      }, 1000).unref();
  });
  stdoutDestination = destination;
  return destination;
}

/** A service's own logger (no parent): the shared options, written to stdout asynchronously. */
export function createLogger(options: { level: string; service: string; instanceId: string }) {
  return pino(loggerOptions(options), asyncStdout());
}

/**
 * One access line per request ("request completed", with method, path, status and
 * duration) instead of Fastify's two; error lines are unchanged. Logging was the largest
 * per-request cost of a small route at the production level (info).
 */
export class AccessLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (this.isLogDisabled(request)) return;
    if (error) {
      reply.log.error(
        { req: request, res: reply, err: error, responseTime: reply.elapsedTime },
        "request errored",
      );
    } else {
      reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, "request completed");
    }
  }
}
