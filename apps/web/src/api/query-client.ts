import { QueryClient } from "@tanstack/react-query";
import { isApiError, isRetryable } from "./errors.js";

/**
 * Queries retry only what may succeed later (outages, rate limits), never a request the
 * server refused; a 401 is left to the session to handle.
 */
export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 5_000,
        retry: (failureCount, error) => failureCount < 3 && isRetryable(error),
        retryDelay: (attempt, error) =>
          isApiError(error) && error.retryAfter
            ? error.retryAfter * 1000
            : Math.min(500 * 2 ** attempt, 5_000),
        refetchOnWindowFocus: true,
      },
      mutations: { retry: false },
    },
  });
}
