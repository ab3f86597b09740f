import {
  authRoutes,
  Capability,
  CreateRobotBody,
  type CreateRobotCredentialResponse,
} from "@perseus/contracts";
import { Link } from "@tanstack/react-router";
import { type FormEvent, useState } from "react";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { ErrorMessage } from "../../components/error-message.js";
import { fieldMessage, zodFieldErrors } from "../../components/form-errors.js";
import { QueryState } from "../../components/query-state.js";
import { TextField } from "../../components/text-field.js";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { CredentialPanel } from "./credential-panel.js";
import { PresenceBadge, robotsKey, usePresence, useRobots } from "./robot-queries.js";
import { scopeSummary } from "./scopes-editor.js";

type Created = { handle: string; credential: CreateRobotCredentialResponse | null };

function CreateRobotForm({ onCreated }: { onCreated: (created: Created) => void }) {
  const { role } = useSession();
  const [handle, setHandle] = useState("");
  const [name, setName] = useState("");
  const [capabilities, setCapabilities] = useState<Capability[]>(["shell"]);
  const [local, setLocal] = useState<Record<string, string>>({});
  // The robot first, then (for those allowed) its first credential, so it can connect at once.
  const create = useAction(
    async (body: CreateRobotBody): Promise<Created> => {
      const robot = await api.call("/api/auth", authRoutes.createRobot, { body });
      const credential = can(role, "robots.credentials")
        ? await api.call("/api/auth", authRoutes.createRobotCredential, { params: { id: robot.id } })
        : null;
      return { handle: robot.handle, credential };
    },
    [robotsKey],
    (created) => {
      onCreated(created);
      setHandle("");
      setName("");
    },
  );
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = CreateRobotBody.safeParse({ handle, name, capabilities });
    if (!parsed.success) return setLocal(zodFieldErrors(parsed.error));
    setLocal({});
    create.mutate(parsed.data);
  };
  return (
    <form className="card form" onSubmit={onSubmit} noValidate aria-label="Create a robot">
      <div className="form-row">
        <TextField
          label="Robot handle"
          hint="People mention it as @handle."
          value={handle}
          onChange={setHandle}
          error={fieldMessage(local, create.error, "handle")}
        />
        <TextField
          label="Robot name"
          value={name}
          onChange={setName}
          error={fieldMessage(local, create.error, "name")}
        />
      </div>
      <fieldset className="checkbox-grid">
        <legend>Capabilities</legend>
        {Capability.options.map((capability) => (
          <label key={capability} className="checkbox">
            <input
              type="checkbox"
              checked={capabilities.includes(capability)}
              onChange={(event) =>
                setCapabilities((current) =>
                  event.target.checked ? [...current, capability] : current.filter((c) => c !== capability),
                )
              }
            />
            {capability}
          </label>
        ))}
      </fieldset>
      <p className="small muted">
        New robots may be invoked anywhere in the organisation; narrow that on the robot's page.
      </p>
      <ErrorMessage error={create.error} />
      <button type="submit" className="button" disabled={create.isPending}>
        {create.isPending ? "Creating…" : "Create robot"}
      </button>
    </form>
  );
}

/** The tenant's robots with their live status; creating one hands out its first credential. */
export function RobotsPage() {
  const { role } = useSession();
  const robots = useRobots();
  const presence = usePresence();
  const [created, setCreated] = useState<Created | null>(null);

  return (
    <section className="page" aria-labelledby="robots-title">
      <h1 id="robots-title">Robots</h1>
      {can(role, "robots.write") ? <CreateRobotForm onCreated={setCreated} /> : null}
      {created?.credential ? (
        <CredentialPanel
          created={created.credential}
          handle={created.handle}
          onDone={() => setCreated(null)}
        />
      ) : null}
      {presence.isError ? <ErrorMessage error={presence.error} /> : null}
      <QueryState
        query={robots}
        label="robots"
        isEmpty={(data) => data.items.length === 0}
        empty={<p>No robots yet. A robot is an AI agent on a machine of yours that takes tasks from chat.</p>}
      >
        {(data) => (
          <div className="table-scroll card">
            <table>
              <caption className="visually-hidden">Robots</caption>
              <thead>
                <tr>
                  <th scope="col">Robot</th>
                  <th scope="col">Status</th>
                  <th scope="col">Capabilities</th>
                  <th scope="col">May be invoked</th>
                  <th scope="col">Config</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((robot) => (
                  <tr key={robot.id}>
                    <th scope="row">
                      <Link to="/robots/$robotId" params={{ robotId: robot.id }}>
                        @{robot.handle}
                      </Link>
                      <br />
                      <span className="muted small">{robot.name}</span>
                    </th>
                    <td>
                      {robot.revokedAt ? (
                        <span className="badge badge-down">Revoked</span>
                      ) : (
                        <PresenceBadge presence={presence.data?.get(robot.id)} loading={presence.isPending} />
                      )}
                    </td>
                    <td className="small">{robot.capabilities.join(", ") || "—"}</td>
                    <td className="small">{scopeSummary(robot.scopes)}</td>
                    <td className="small">v{robot.configVersion}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </QueryState>
    </section>
  );
}
