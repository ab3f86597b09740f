import { authRoutes, type EdgeUpstreamStatus } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/api.js";
import { formatUptime } from "../../components/format-uptime.js";
import { QueryState } from "../../components/query-state.js";
import { TimeText } from "../../components/time-text.js";

/** Registry entries are refreshed by heartbeat; one older than this is likely a dead instance. */
const STALE_AFTER_MS = 30_000;

/** Every instance in the service registry, with the edge's view of its health where it has one. */
export function RegistryInstances({ upstreams }: { upstreams: EdgeUpstreamStatus[] }) {
  const instances = useQuery({
    queryKey: ["auth", "instances"],
    queryFn: ({ signal }) => api.call("/api/auth", authRoutes.listInstances, { signal }),
    refetchInterval: 10_000,
  });
  const edgeView = new Map(upstreams.filter((u) => u.instanceId).map((u) => [u.instanceId, u]));
  return (
    <article className="card" aria-labelledby="registry-title">
      <h2 id="registry-title">Service registry</h2>
      <QueryState query={instances} label="registered instances" isEmpty={(data) => data.items.length === 0}>
        {(data) => (
          <div className="table-scroll">
            <table>
              <caption className="visually-hidden">Registered service instances</caption>
              <thead>
                <tr>
                  <th scope="col">Instance</th>
                  <th scope="col">Service</th>
                  <th scope="col">Health</th>
                  <th scope="col">Version</th>
                  <th scope="col">Up for</th>
                  <th scope="col">Last heartbeat</th>
                </tr>
              </thead>
              <tbody>
                {[...data.items]
                  .sort(
                    (a, b) => a.service.localeCompare(b.service) || a.instanceId.localeCompare(b.instanceId),
                  )
                  .map((instance) => {
                    const upstream = edgeView.get(instance.instanceId);
                    const stale = Date.now() - Date.parse(instance.lastSeenAt) > STALE_AFTER_MS;
                    const health = upstream
                      ? upstream.isReady
                        ? ["badge-ready", "Ready"]
                        : ["badge-down", upstream.state === "not-ready" ? "Not ready" : "Down"]
                      : stale
                        ? ["badge-down", "Heartbeat late"]
                        : ["badge-ready", "Alive"];
                    return (
                      <tr key={instance.instanceId}>
                        <th scope="row">{instance.instanceId}</th>
                        <td>{instance.service}</td>
                        <td>
                          <span className={`badge ${health[0]}`}>{health[1]}</span>
                        </td>
                        <td>{instance.version}</td>
                        <td>
                          {formatUptime(
                            Math.max(0, Math.floor((Date.now() - Date.parse(instance.startedAt)) / 1000)),
                          )}
                        </td>
                        <td>
                          <TimeText iso={instance.lastSeenAt} />
                        </td>
                      </tr>
                    );
                  })}
              </tbody>
            </table>
          </div>
        )}
      </QueryState>
    </article>
  );
}
