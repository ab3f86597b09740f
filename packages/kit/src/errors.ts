import { type FieldIssue, type ProblemCode, problemStatus } from "@perseus/contracts";

/**
 * An error that is meant for the client: its code picks the HTTP status (one table, in
 * contracts) and its message is shown. Anything else becomes a 500 with a generic text.
 */
export class AppError extends Error {
  override name = "AppError";
  readonly status: number;
  constructor(
    readonly code: ProblemCode,
    message: string,
    readonly details: { errors?: FieldIssue[]; retryAfter?: number; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = problemStatus[code];
  }
}

export class NotFoundError extends AppError {
  constructor(what = "resource") {
    super("not_found", `${what} not found`);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = "you may not do this") {
    super("forbidden", message);
  }
}

export class UnauthenticatedError extends AppError {
  constructor(message = "authentication required") {
    super("unauthenticated", message, { headers: { "www-authenticate": 'Bearer realm="perseus"' } });
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super("conflict", message);
  }
}

export class ValidationError extends AppError {
  constructor(message: string, errors: FieldIssue[] = []) {
    super("validation_failed", message, { errors });
  }
}

export class PreconditionFailedError extends AppError {
  constructor(message = "the resource has changed (ETag mismatch)") {
    super("precondition_failed", message);
  }
}

export class PreconditionRequiredError extends AppError {
  constructor(message = "this request must be conditional: send If-Match with the current ETag") {
    super("precondition_required", message);
  }
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    super("rate_limited", "too many requests", {
      retryAfter: retryAfterSeconds,
      headers: { "retry-after": String(retryAfterSeconds) },
    });
  }
}

export class UnavailableError extends AppError {
  constructor(message = "a dependency is unavailable; retry shortly", retryAfterSeconds = 1) {
    super("unavailable", message, {
      retryAfter: retryAfterSeconds,
      headers: { "retry-after": String(retryAfterSeconds) },
    });
  }
}
