import {
  authRoutes,
  type Capability,
  CreateRobotBody,
  type CreateRobotCredentialResponse,
} from "@perseus/contracts";
import { Link } from "@tanstack/react-router";
import { type FormEvent, useState } from "react";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { ErrorMessage } from "../../components/error-message.js";
import { useFormErrors } from "../../components/form-errors.js";
import { QueryState } from "../../components/query-state.js";
import { TextField } from "../../components/text-field.js";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { canOpenTerminal, OpenTerminalButton } from "../terminal/terminal-actions.js";
import { CapabilitiesField } from "./capabilities-field.js";
import { CredentialPanel } from "./credential-panel.js";
import { PresenceBadge, robotsKey, usePresence, useRobots } from "./robot-queries.js";
import { scopeSummary } from "./scopes-editor.js";

type Created = { handle: string; credential: CreateRobotCredentialResponse | null };

function CreateRobotForm({ onCreated }: { onCreated: (created: Created) => void }) {
  const { role } = useSession();
  const [handle, setHandle] = useState("");
  const [name, setName] = useState("");
  const [capabilities, setCapabilities] = useState<Capability[]>(["shell"]);
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
  const form = useFormErrors(create.error);
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const body = form.validate(CreateRobotBody, { handle, name, capabilities });
    if (body) create.mutate(body);
  };
  return (
    <form className="card form" onSubmit={onSubmit} noValidate aria-label="Create a robot">
      <div className="form-row">
        <TextField
          label="Robot handle"
          hint="People mention it as @handle."
          value={handle}
          onChange={setHandle}
          error={form.field("handle")}
        />
        <TextField label="Robot name" value={name} onChange={setName} error={form.field("name")} />
      </div>
      <CapabilitiesField value={capabilities} onChange={setCapabilities} />
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
                  {can(role, "terminals.open") ? <th scope="col">Terminal</th> : null}
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
                    {can(role, "terminals.open") ? (
                      <td>
                        {canOpenTerminal(role, robot) ? (
                          <OpenTerminalButton robot={robot} ariaLabel={`Open terminal on @${robot.handle}`} />
                        ) : (
                          <span className="muted small">—</span>
                        )}
                      </td>
                    ) : null}
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
