import { authRoutes } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "@tanstack/react-router";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { ConfirmButton } from "../../components/confirm-button.js";
import { ErrorMessage } from "../../components/error-message.js";
import { QueryState } from "../../components/query-state.js";
import { TimeText } from "../../components/time-text.js";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { RobotTerminals } from "../terminal/terminal-actions.js";
import { RobotConfigForm } from "./robot-config-form.js";
import { RobotCredentials } from "./robot-credentials.js";
import { RobotDetailsForm } from "./robot-details-form.js";
import { PresenceBadge, robotsKey, usePresence } from "./robot-queries.js";
import { ScopesEditor } from "./scopes-editor.js";

/** One robot: live status, details, where it may be invoked, credentials, central configuration. */
export function RobotPage() {
  const { robotId } = useParams({ from: "/app/robots/$robotId" });
  const { role } = useSession();
  const key = ["auth", "robot", robotId];
  const robot = useQuery({
    queryKey: key,
    queryFn: ({ signal }) => api.call("/api/auth", authRoutes.getRobot, { params: { id: robotId }, signal }),
  });
  const presence = usePresence();
  const revoke = useAction(
    () => api.call("/api/auth", authRoutes.revokeRobot, { params: { id: robotId } }),
    [key, robotsKey],
  );
  const updateScopes = useAction(
    (scopes: NonNullable<typeof robot.data>["scopes"]) =>
      api.call("/api/auth", authRoutes.updateRobot, { params: { id: robotId }, body: { scopes } }),
    [key, robotsKey],
  );
  const canWrite = can(role, "robots.write");

  return (
    <section className="page" aria-labelledby="robot-title">
      <p className="small">
        <Link to="/robots">← All robots</Link>
      </p>
      <QueryState query={robot} label="robot">
        {(data) => (
          <>
            <div className="page-header">
              <h1 id="robot-title">
                @{data.handle} <span className="muted">{data.name}</span>
              </h1>
              <div className="actions">
                {data.revokedAt ? (
                  <span className="badge badge-down">Revoked</span>
                ) : (
                  <PresenceBadge presence={presence.data?.get(data.id)} loading={presence.isPending} />
                )}
                {canWrite && !data.revokedAt ? (
                  <ConfirmButton
                    label="Revoke robot"
                    subject={`@${data.handle}`}
                    pending={revoke.isPending}
                    onConfirm={() => revoke.mutate()}
                  />
                ) : null}
              </div>
            </div>
            <ErrorMessage error={revoke.error} />
            <p className="muted small">
              Created <TimeText iso={data.createdAt} />
              {presence.data?.get(data.id)?.lastSeenAt ? (
                <>
                  {" "}
                  · last seen <TimeText iso={presence.data.get(data.id)?.lastSeenAt} />
                </>
              ) : null}{" "}
              · declared capabilities: {data.capabilities.join(", ") || "none"}
            </p>
            <div className="grid">
              <article className="card" aria-labelledby="robot-details">
                <h2 id="robot-details">Details</h2>
                <RobotDetailsForm
                  key={data.configVersion + data.name}
                  robot={data}
                  canEdit={canWrite && !data.revokedAt}
                />
              </article>
              <article className="card" aria-labelledby="robot-scopes">
                <h2 id="robot-scopes">Where it may be invoked</h2>
                <ScopesEditor
                  key={JSON.stringify(data.scopes)}
                  scopes={data.scopes}
                  canEdit={canWrite && !data.revokedAt}
                  onSave={(scopes) => updateScopes.mutateAsync(scopes)}
                />
              </article>
            </div>
            {can(role, "terminals.open") && !data.revokedAt ? <RobotTerminals robot={data} /> : null}
            {can(role, "robots.credentials") ? (
              <article className="card" aria-labelledby="robot-credentials">
                <h2 id="robot-credentials">Credentials</h2>
                <RobotCredentials robot={data} />
              </article>
            ) : null}
            <article className="card" aria-labelledby="robot-config">
              <h2 id="robot-config">Central configuration</h2>
              <RobotConfigForm robot={data} canEdit={canWrite} />
            </article>
          </>
        )}
      </QueryState>
    </section>
  );
}
