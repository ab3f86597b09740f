import type { z } from "zod";
import { isApiError } from "../api/errors.js";

/** Field messages of a failed zod parse, keyed by the top-level field. */
export function zodFieldErrors(error: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) {
    const key = issue.path.map(String).join(".") || "form";
    out[key] ??= issue.message;
  }
  return out;
}

/** The message for one field: a local (zod) one first, else the server's `validation_failed` one. */
export function fieldMessage(
  local: Record<string, string>,
  serverError: unknown,
  field: string,
): string | undefined {
  return local[field] ?? (isApiError(serverError) ? serverError.fieldError(field) : undefined);
}
