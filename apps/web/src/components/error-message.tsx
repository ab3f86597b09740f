import { describeError } from "../api/errors.js";

/** A refused or failed action, as the server explained it (problem+json detail). */
export function ErrorMessage({ error, id }: { error: unknown; id?: string }) {
  if (!error) return null;
  return (
    <p className="alert alert-error" role="alert" id={id}>
      {describeError(error)}
    </p>
  );
}
