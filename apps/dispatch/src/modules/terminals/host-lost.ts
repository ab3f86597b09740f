import type { Db } from "@perseus/db";
import type { FastifyBaseLogger } from "fastify";

/** The live connection ids of one robot, across replicas (its presence). */
export type LiveConnections = (tenantId: string, robotId: string) => Promise<string[]>;

type UnendedRow = {
  tenant_id: string;
  id: string;
  robot_id: string;
  connection_id: string | null;
  opened_at: Date;
};

/**
 * Ends sessions whose robot connection no longer exists anywhere: the replica that held it
 * died (SIGKILL, lost machine) and could not close them. Every replica sweeps; the first
 * close wins. Sessions still within their open timeout are left to it, and a session must
 * be missing its connection on two sweeps in a row (presence rebuilt after a Redis restart
 * is not taken for a lost host).
 */
export function createHostLostSweep(deps: {
  db: Db;
  log: FastifyBaseLogger;
  liveConnections: LiveConnections;
  /** The session is hosted by this replica (its own connection, alive by definition). */
  isLocal: (sessionId: string) => boolean;
  openTimeoutMs: number;
  /** Closes a session as `host_lost`; true when this call ended it. */
  close: (tenantId: string, sessionId: string) => Promise<boolean>;
}) {
  const missingBefore = new Set<string>();
  let timer: NodeJS.Timeout | null = null;

  async function sweep(batch = 500): Promise<number> {
    const { rows } = await deps.db.$client.query<UnendedRow>(
      "SELECT tenant_id, id, robot_id, connection_id, opened_at FROM perseus_sys.dispatch_unended_terminals($1)",
      [batch],
    );
    const live = new Map<string, Set<string>>();
    const missing = new Set<string>();
    let ended = 0;
    for (const row of rows) {
      if (deps.isLocal(row.id) || Date.now() - row.opened_at.getTime() < deps.openTimeoutMs) continue;
      const robotKey = `${row.tenant_id}|${row.robot_id}`;
      let connections = live.get(robotKey);
      if (!connections) {
        connections = new Set(await deps.liveConnections(row.tenant_id, row.robot_id));
        live.set(robotKey, connections);
      }
      if (row.connection_id && connections.has(row.connection_id)) continue;
      if (!missingBefore.has(row.id)) missing.add(row.id);
      else if (await deps.close(row.tenant_id, row.id)) ended++;
    }
    missingBefore.clear();
    for (const id of missing) missingBefore.add(id);
    return ended;
  }

  return {
    sweep,
    start(everyMs: number) {
      let sweeping = false;
      timer = setInterval(() => {
        if (sweeping) return;
        sweeping = true;
        sweep()
          .then((ended) => {
            if (ended > 0) deps.log.info({ ended }, "ended terminal sessions whose robot connection is gone");
          })
          .catch((error) => deps.log.warn({ err: error }, "the terminal sweep failed"))
          .finally(() => {
            sweeping = false;
          });
      }, everyMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
