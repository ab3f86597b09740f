import closeWithGrace from "close-with-grace";
import type { FastifyInstance } from "fastify";
import { stopServiceTracing } from "./tracing.js";

/**
 * Runs a built app as a process: listen, then on SIGTERM/SIGINT mark draining (readiness
 * fails so load balancers move away), wait `drainDelayMs`, and close — which stops
 * accepting, lets in-flight requests finish and runs every onClose hook (sockets get a
 * reconnect close code, workers stop, pools end), then flush buffered spans.
 */
export async function runService(
  app: FastifyInstance,
  options: { port: number; host: string; drainDelayMs?: number; graceMs?: number },
): Promise<void> {
  closeWithGrace({ delay: options.graceMs ?? 20_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, "fatal error, shutting down");
    else app.log.info({ signal }, "shutting down");
    app.markDraining();
    if (options.drainDelayMs) await new Promise((resolve) => setTimeout(resolve, options.drainDelayMs));
    await app.close();
    // Last: spans of the work that just finished reach the collector.
    await stopServiceTracing().catch((error) => app.log.warn({ err: error }, "flushing traces failed"));
  });
  await app.listen({ port: options.port, host: options.host });
}
