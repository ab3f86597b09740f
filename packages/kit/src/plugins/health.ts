import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

/** A readiness check: resolves when the dependency answers, rejects (or times out) otherwise. */
export type ReadinessCheck = { name: string; check: () => Promise<unknown>; timeoutMs?: number };

export type HealthOptions = {
  checks: ReadinessCheck[];
  service: string;
  version: string;
  instanceId: string;
};

declare module "fastify" {
  interface FastifyInstance {
    /** Marks the instance as draining: /readyz answers 503 so load balancers stop sending work. */
    markDraining(): void;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** `/healthz`: the process is alive. `/readyz`: it can serve (every dependency answers, not draining). */
export const healthPlugin = fp(
  async (app: FastifyInstance, options: HealthOptions) => {
    let isDraining = false;
    app.decorate("markDraining", () => {
      isDraining = true;
    });
    app.addHook("preClose", async () => {
      isDraining = true;
    });

    const identity = { service: options.service, version: options.version, instanceId: options.instanceId };
    app.get("/healthz", { schema: { hide: true } }, async () => ({ status: "ok", ...identity }));
    app.get("/readyz", { schema: { hide: true } }, async (_request, reply) => {
      const results = await Promise.all(
        options.checks.map(async ({ name, check, timeoutMs }) => {
          try {
            await withTimeout(check(), timeoutMs ?? 1_000);
            return [name, "ok"] as const;
          } catch (error) {
            return [name, `failing: ${(error as Error).message}`] as const;
          }
        }),
      );
      const checks = Object.fromEntries(results);
      const isReady = !isDraining && results.every(([, state]) => state === "ok");
      reply.code(isReady ? 200 : 503);
      return { status: isDraining ? "draining" : isReady ? "ready" : "not-ready", checks, ...identity };
    });
  },
  { name: "perseus-health", fastify: "5.x" },
);
