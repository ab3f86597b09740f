import { z } from "zod";

/**
 * Stable machine-readable error codes. The HTTP status of each lives in one table
 * (`problemStatus`) so servers and clients agree on it.
 */
export const ProblemCode = z.enum([
  "bad_request",
  "validation_failed",
  "unauthenticated",
  "forbidden",
  "not_found",
  "method_not_allowed",
  "conflict",
  "gone",
  "precondition_failed",
  "precondition_required",
  "payload_too_large",
  "unsupported_media_type",
  "rate_limited",
  "internal",
  "unavailable",
  /** The robot has no live connection (a live terminal needs one). */
  "robot_offline",
  /** The robot, or the nanobot connected for it, does not offer live terminals. */
  "terminal_unsupported",
]);
export type ProblemCode = z.infer<typeof ProblemCode>;

export const problemStatus: Record<ProblemCode, number> = {
  bad_request: 400,
  validation_failed: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  gone: 410,
  precondition_failed: 412,
  precondition_required: 428,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
  robot_offline: 409,
  terminal_unsupported: 409,
};

/** One invalid field of a request: where it is and what is wrong with it. */
export const FieldIssue = z.object({
  location: z.enum(["body", "query", "params", "headers"]),
  path: z.string().describe("dotted path of the field, '' for the whole location"),
  message: z.string(),
});
export type FieldIssue = z.infer<typeof FieldIssue>;

/** RFC 9457 problem details, as every Perseus service returns them (`application/problem+json`). */
export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  instance: z.string().optional(),
  code: ProblemCode,
  requestId: z.string().optional(),
  errors: z.array(FieldIssue).optional(),
  retryAfter: z.number().optional(),
});
export type Problem = z.infer<typeof Problem>;

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export function problemType(code: ProblemCode): string {
  return `https://perseus.dev/problems/${code.replaceAll("_", "-")}`;
}
