import { type FieldIssue, Problem, type ProblemCode, problemType } from "@perseus/contracts";

const codeByStatus: Record<number, ProblemCode> = {
  400: "bad_request",
  401: "unauthenticated",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  410: "gone",
  412: "precondition_failed",
  413: "payload_too_large",
  415: "unsupported_media_type",
  428: "precondition_required",
  429: "rate_limited",
};

/**
 * A failed API call, rebuilt from the server's problem+json body so that callers can
 * branch on `code` (a stable contract) instead of parsing messages.
 */
export class ApiError extends Error {
  override name = "ApiError";
  readonly code: ProblemCode;
  readonly status: number;
  readonly requestId: string | undefined;
  /** Per-field problems of a `validation_failed` answer, for forms. */
  readonly fieldErrors: FieldIssue[];
  readonly retryAfter: number | undefined;

  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
    this.code = problem.code;
    this.status = problem.status;
    this.requestId = problem.requestId;
    this.fieldErrors = problem.errors ?? [];
    this.retryAfter = problem.retryAfter;
  }

  /** The message for one form field (`path` as the server reports it, e.g. `email`). */
  fieldError(path: string): string | undefined {
    return this.fieldErrors.find((issue) => issue.path === path)?.message;
  }
}

/** The answer did not match its contract: a client/server version mismatch or a bug, never user error. */
export class ContractError extends Error {
  override name = "ContractError";
  constructor(
    readonly url: string,
    readonly status: number,
    readonly issues: string[],
  ) {
    super(`unexpected response from ${url} (${status}): ${issues.slice(0, 3).join("; ")}`);
  }
}

function synthesize(code: ProblemCode, status: number, detail: string, requestId?: string): Problem {
  return {
    type: problemType(code),
    title: code.replaceAll("_", " "),
    status,
    code,
    detail,
    ...(requestId ? { requestId } : {}),
  };
}

/** Rebuilds the typed error of a non-2xx response; a body that is not problem+json still maps by status. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  const requestId = response.headers.get("x-request-id") ?? undefined;
  const text = await response.text().catch(() => "");
  try {
    const parsed = Problem.safeParse(JSON.parse(text));
    if (parsed.success) return new ApiError(parsed.data);
  } catch {
    // not JSON: fall through to a problem built from the status
  }
  const code =
    codeByStatus[response.status] ??
    (response.status >= 500 ? (response.status === 503 ? "unavailable" : "internal") : "bad_request");
  return new ApiError(synthesize(code, response.status, `the server answered ${response.status}`, requestId));
}

/** A request that never got an answer (offline, edge down): retryable, like a 503. */
export function networkError(error: unknown): ApiError {
  const reason = error instanceof Error ? error.message : String(error);
  return new ApiError(synthesize("unavailable", 0, `the server cannot be reached (${reason})`));
}

export function isApiError(error: unknown, code?: ProblemCode): error is ApiError {
  return error instanceof ApiError && (code === undefined || error.code === code);
}

/** Whether trying again later may succeed (outages, rate limits), as opposed to a request to fix. */
export function isRetryable(error: unknown): boolean {
  return (
    isApiError(error) &&
    (error.code === "unavailable" || error.code === "rate_limited" || error.status >= 500)
  );
}

/** One line for people, with the request id to quote when reporting a server fault. */
export function describeError(error: unknown): string {
  if (isApiError(error)) {
    const quote = error.status >= 500 && error.requestId ? ` (request ${error.requestId})` : "";
    return `${error.message}${quote}`;
  }
  if (error instanceof ContractError)
    return "The server sent an answer this console does not understand. Reload the page.";
  return error instanceof Error ? error.message : "Something went wrong.";
}
