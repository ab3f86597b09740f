import type { Robot, TerminalSession } from "@perseus/contracts";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import { useId } from "react";
import { useAction } from "../../api/use-action.js";
import { ErrorMessage } from "../../components/error-message.js";
import { QueryState } from "../../components/query-state.js";
import { TimeText } from "../../components/time-text.js";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import {
  closeTerminal,
  describeEnding,
  describeOpenError,
  INITIAL_SIZE,
  listTerminals,
  openTerminal,
  terminalKeys,
} from "./terminal-api.js";
import "./terminal-actions.css";

/** Whether this person may open a terminal on this robot (the server decides anyway). */
export function canOpenTerminal(
  role: ReturnType<typeof useSession>["role"],
  robot: Pick<Robot, "capabilities" | "revokedAt"> | undefined,
): boolean {
  return (
    can(role, "terminals.open") && !!robot && !robot.revokedAt && robot.capabilities.includes("terminal")
  );
}

type OpenProps = {
  robot: Pick<Robot, "id" | "handle">;
  /** Opened for a task: on the task's robot, in the task's chatgroup. */
  taskId?: string;
  chatgroupId?: string | null;
  className?: string;
  label?: string;
  /** A fuller accessible name where the visible label is short (e.g. on a task chip). */
  ariaLabel?: string;
};

/** "Open terminal": starts a session on the robot and shows it; a refusal says what to do next. */
export function OpenTerminalButton({
  robot,
  taskId,
  chatgroupId,
  className,
  label = "Open terminal",
  ariaLabel,
}: OpenProps) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const errorId = useId();
  const open = useMutation({
    mutationFn: () =>
      openTerminal({
        robotId: robot.id,
        ...INITIAL_SIZE,
        ...(taskId ? { taskId } : {}),
        ...(chatgroupId ? { chatgroupId } : {}),
      }),
    onSuccess: async (session) => {
      queryClient.setQueryData(terminalKeys.one(session.id), session);
      await queryClient.invalidateQueries({ queryKey: terminalKeys.all });
      await navigate({ to: "/terminals/$terminalId", params: { terminalId: session.id } });
    },
  });
  return (
    <span className="terminal-open">
      <button
        type="button"
        className={className ?? "button button-small"}
        disabled={open.isPending}
        aria-label={ariaLabel}
        aria-describedby={open.error ? errorId : undefined}
        onClick={() => open.mutate()}
      >
        {open.isPending ? "Opening terminal…" : label}
      </button>
      {open.error ? (
        <span className="alert alert-error terminal-open-error" role="alert" id={errorId}>
          {describeOpenError(open.error, robot.handle)}
        </span>
      ) : null}
    </span>
  );
}

function SessionState({ session }: { session: TerminalSession }) {
  if (session.status === "closed") {
    return (
      <span className="badge badge-neutral" title={describeEnding(session)}>
        Ended{session.exitCode !== null ? ` (${session.exitCode})` : ""}
      </span>
    );
  }
  return (
    <span className={`badge ${session.status === "open" ? "badge-ready" : "badge-unknown"}`}>
      {session.status === "open" ? "Open" : "Opening"}
    </span>
  );
}

/** The robot's terminal sessions (newest first): attach to one, close it, or open a new one. */
export function RobotTerminals({ robot }: { robot: Robot }) {
  const { role } = useSession();
  const sessions = useQuery({
    queryKey: terminalKeys.ofRobot(robot.id),
    queryFn: ({ signal }) => listTerminals(robot.id, signal),
    refetchInterval: 10_000,
  });
  const close = useAction((id: string) => closeTerminal(id), [terminalKeys.all]);
  const mayOpen = canOpenTerminal(role, robot);
  return (
    <article className="card" aria-labelledby="robot-terminals">
      <div className="card-header">
        <h2 id="robot-terminals">Terminal</h2>
        {mayOpen ? <OpenTerminalButton robot={robot} /> : null}
      </div>
      {!robot.capabilities.includes("terminal") ? (
        <p className="muted small">
          This robot does not declare the terminal capability; add it under Details to offer terminals.
        </p>
      ) : null}
      <ErrorMessage error={close.error} />
      <QueryState
        query={sessions}
        label="terminal sessions"
        isEmpty={(data) => data.items.length === 0}
        empty={<p className="muted small">No terminal sessions yet.</p>}
      >
        {(data) => (
          <div className="table-scroll">
            <table>
              <caption className="visually-hidden">Terminal sessions of @{robot.handle}</caption>
              <thead>
                <tr>
                  <th scope="col">Opened</th>
                  <th scope="col">State</th>
                  <th scope="col">Size</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((session) => (
                  <tr key={session.id}>
                    <th scope="row">
                      <TimeText iso={session.openedAt} />
                      {session.taskId ? (
                        <>
                          {" "}
                          ·{" "}
                          <Link to="/tasks/$taskId" params={{ taskId: session.taskId }}>
                            task
                          </Link>
                        </>
                      ) : null}
                    </th>
                    <td>
                      <SessionState session={session} />
                    </td>
                    <td className="small">
                      {session.cols}×{session.rows}
                    </td>
                    <td className="actions">
                      <Link
                        className="button button-small button-secondary"
                        to="/terminals/$terminalId"
                        params={{ terminalId: session.id }}
                      >
                        {session.status === "closed" ? "View" : "Attach"}
                        <span className="visually-hidden"> terminal opened {session.openedAt}</span>
                      </Link>
                      {session.status !== "closed" && can(role, "terminals.open") ? (
                        <button
                          type="button"
                          className="button button-small button-ghost"
                          disabled={close.isPending}
                          onClick={() => close.mutate(session.id)}
                        >
                          Close<span className="visually-hidden"> terminal opened {session.openedAt}</span>
                        </button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </QueryState>
    </article>
  );
}
