import { type EdgeServiceStatus, EdgeStatusResponse, type EdgeUpstreamStatus } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/api.js";
import { describeError } from "../../api/errors.js";
import { formatUptime } from "../../components/format-uptime.js";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { RegistryInstances } from "./registry-instances.js";

const stateLabels: Record<EdgeUpstreamStatus["state"], string> = {
  ready: "Ready",
  "not-ready": "Not ready",
  down: "Down",
  unknown: "Checking",
};

function StateBadge({ state }: { state: EdgeUpstreamStatus["state"] }) {
  return <span className={`badge badge-${state}`}>{stateLabels[state]}</span>;
}

function ServiceCard({ service }: { service: EdgeServiceStatus }) {
  const ready = service.upstreams.filter((u) => u.isReady).length;
  return (
    <article className="card" aria-labelledby={`svc-${service.service}`}>
      <header className="card-header">
        <h2 id={`svc-${service.service}`} className="service-name">
          {service.service}
        </h2>
        <span className={`badge ${service.isReady ? "badge-ready" : "badge-down"}`}>
          {service.isReady ? "Available" : "Unavailable"}
        </span>
      </header>
      <p className="muted">
        {ready} of {service.upstreams.length} {service.upstreams.length === 1 ? "instance" : "instances"}{" "}
        ready · <code>{service.prefix}</code>
      </p>
      <div className="table-scroll">
        <table>
          <caption className="visually-hidden">Instances of {service.service}</caption>
          <thead>
            <tr>
              <th scope="col">Instance</th>
              <th scope="col">State</th>
              <th scope="col">Version</th>
              <th scope="col">Ready for</th>
              <th scope="col">Address</th>
            </tr>
          </thead>
          <tbody>
            {service.upstreams.map((upstream) => (
              <tr key={upstream.url}>
                <th scope="row">{upstream.instanceId ?? "—"}</th>
                <td>
                  <StateBadge state={upstream.state} />
                  {upstream.lastError ? <span className="muted small"> {upstream.lastError}</span> : null}
                </td>
                <td>{upstream.version ?? "—"}</td>
                <td>{formatUptime(upstream.uptimeSeconds)}</td>
                <td>
                  <code>{upstream.url}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </article>
  );
}

/** Readiness of every service as the edge sees it, refreshed every few seconds. */
export function StatusPage() {
  const { role } = useSession();
  const status = useQuery({
    queryKey: ["edge", "status"],
    queryFn: ({ signal }) => api.get("/api/edge/status", EdgeStatusResponse, { signal }),
    refetchInterval: 5_000,
  });

  return (
    <section className="page" aria-labelledby="status-title">
      <div className="page-header">
        <h1 id="status-title">System status</h1>
        <p aria-live="polite" className="status-summary">
          {status.data ? (
            <span className={`badge ${status.data.isReady ? "badge-ready" : "badge-down"}`}>
              {status.data.isReady ? "All services ready" : "Some services are unavailable"}
            </span>
          ) : status.isPending ? (
            <span className="muted">Checking…</span>
          ) : null}
        </p>
      </div>
      {status.error ? (
        <p className="alert alert-error" role="alert">
          The status could not be loaded: {describeError(status.error)}
        </p>
      ) : null}
      {status.data ? (
        <>
          <div className="grid">
            {status.data.services.map((service) => (
              <ServiceCard key={service.service} service={service} />
            ))}
          </div>
          <p className="muted small">
            Edge {status.data.edge.instanceId} · version {status.data.edge.version} · up{" "}
            {formatUptime(status.data.edge.uptimeSeconds)} · checked{" "}
            {new Date(status.data.checkedAt).toLocaleTimeString()}
          </p>
        </>
      ) : null}
      {can(role, "system.read") ? (
        <RegistryInstances upstreams={status.data?.services.flatMap((service) => service.upstreams) ?? []} />
      ) : null}
    </section>
  );
}
