import { setTimeout as sleep } from "node:timers/promises";

/**
 * Retries a platform call while the edge answers 503 (no ready upstream): on a loaded
 * machine a service's health check can miss a beat; any other failure is thrown at once.
 */
export async function whenAvailable<T>(call: () => Promise<T>, attempts = 30): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= attempts || !/HTTP 503/.test((error as Error).message)) throw error;
      await sleep(500);
    }
  }
}
