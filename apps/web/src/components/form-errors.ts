import { useState } from "react";
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

/**
 * A form's field errors: `validate` parses the input with the form's schema and, when it
 * fails, shows the zod messages (nothing is sent); `field` gives one field's message, the
 * local one first, else the server's `validation_failed` one from problem+json.
 */
export function useFormErrors(serverError: unknown) {
  const [local, setLocal] = useState<Record<string, string>>({});
  return {
    local,
    validate<S extends z.ZodType>(schema: S, input: unknown): z.output<S> | null {
      const parsed = schema.safeParse(input);
      if (!parsed.success) {
        setLocal(zodFieldErrors(parsed.error));
        return null;
      }
      setLocal({});
      return parsed.data;
    },
    field: (name: string) => fieldMessage(local, serverError, name),
  };
}
