import type { UseQueryResult } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { describeError, isApiError } from "../api/errors.js";

type Props<T> = {
  query: UseQueryResult<T>;
  /** What is loading, for the status text ("teams"). */
  label: string;
  /** Whether the loaded data counts as empty. */
  isEmpty?: (data: T) => boolean;
  empty?: ReactNode;
  children: (data: T) => ReactNode;
};

/** Loading, error (with retry), empty and loaded states of one query, the same everywhere. */
export function QueryState<T>({ query, label, isEmpty, empty, children }: Props<T>) {
  if (query.isPending) {
    return (
      <p className="state state-loading" role="status">
        Loading {label}…
      </p>
    );
  }
  if (query.isError) {
    const forbidden = isApiError(query.error, "forbidden");
    return (
      <div className="alert alert-error" role="alert">
        <p>
          {forbidden ? `Your role may not see ${label}.` : `The ${label} could not be loaded.`}{" "}
          {describeError(query.error)}
        </p>
        {forbidden ? null : (
          <button type="button" className="button button-secondary" onClick={() => void query.refetch()}>
            Try again
          </button>
        )}
      </div>
    );
  }
  if (isEmpty?.(query.data))
    return <div className="state state-empty">{empty ?? <p>No {label} yet.</p>}</div>;
  return <>{children(query.data)}</>;
}
