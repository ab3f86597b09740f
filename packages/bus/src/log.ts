/** The slice of a pino logger the bus uses; pass the service's logger, or get console output. */
export type BusLogFn = (fields: Record<string, unknown>, message: string) => void;
export type BusLogger = { info: BusLogFn; warn: BusLogFn; error: BusLogFn };

/** Default logger: quiet on info, loud on problems (a silent relay failure would hide lost events). */
export const consoleLogger: BusLogger = {
  info: () => {},
  warn: (fields, message) => console.warn(`[bus] ${message}`, fields),
  error: (fields, message) => console.error(`[bus] ${message}`, fields),
};

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Exponential backoff with jitter, so many replicas do not retry a recovering server in lockstep. */
export function backoffMs(failures: number, baseMs = 200, maxMs = 10_000): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}

/** Sleeps `ms`, returning early when `signal` aborts (so stop() never waits out a backoff). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
