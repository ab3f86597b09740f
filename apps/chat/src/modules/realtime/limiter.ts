/**
 * Runs at most `limit` tasks at once; the rest wait in arrival order. A burst of
 * subscriptions (a reconnect storm) then queues here instead of on the database pool,
 * where waiting past the pool's connect timeout fails the request and starves other users
 * of the pool (message posts, the outbox relay).
 */
export function createLimiter(limit: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async function run<T>(task: () => Promise<T>): Promise<T> {
    if (active < limit) active++;
    // A finishing task hands its slot straight to the next waiter, so `active` stays put.
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
export type Limiter = ReturnType<typeof createLimiter>;
