import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams } from "@tanstack/react-router";
import { useRef } from "react";
import { useAction } from "../../api/use-action.js";
import { ErrorMessage } from "../../components/error-message.js";
import { QueryState } from "../../components/query-state.js";
import { TimeText } from "../../components/time-text.js";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { useRobots } from "../robots/robot-queries.js";
import { closeTerminal, describeEnding, getTerminal, terminalKeys } from "./terminal-api.js";
import { TerminalView } from "./terminal-view.js";

/** One terminal session: the live screen while it runs, how it ended once it is over. */
export function TerminalPage() {
  const { terminalId } = useParams({ from: "/app/terminals/$terminalId" });
  const { session: me, role } = useSession();
  const queryClient = useQueryClient();
  const robots = useRobots();
  const key = terminalKeys.one(terminalId);
  const session = useQuery({
    queryKey: key,
    queryFn: ({ signal }) => getTerminal(terminalId, signal),
  });
  const close = useAction(() => closeTerminal(terminalId), [key, terminalKeys.all]);
  // A session that ends while it is watched keeps its last screen (with the ending on top).
  const watched = useRef<string | null>(null);

  return (
    <section className="page" aria-labelledby="terminal-title">
      <QueryState query={session} label="terminal session">
        {(data) => {
          const handle = robots.data?.items.find((robot) => robot.id === data.robotId)?.handle;
          const name = handle ? `@${handle}` : "the robot";
          if (data.status !== "closed") watched.current = data.id;
          return (
            <>
              <p className="small">
                <Link to="/robots/$robotId" params={{ robotId: data.robotId }}>
                  ← {handle ? `@${handle}` : "Robot"}
                </Link>
                {data.taskId ? (
                  <>
                    {" · "}
                    <Link to="/tasks/$taskId" params={{ taskId: data.taskId }}>
                      Task
                    </Link>
                  </>
                ) : null}
              </p>
              <div className="page-header">
                <h1 id="terminal-title">Terminal on {name}</h1>
              </div>
              <p className="muted small">
                Opened <TimeText iso={data.openedAt} />
                {data.recording ? " · recorded to the chatgroup's workspace when it ends" : ""}
              </p>
              <ErrorMessage error={close.error} />
              {data.status === "closed" && watched.current !== data.id ? (
                <p className="alert alert-info" role="status">
                  {describeEnding(data)} Ended <TimeText iso={data.closedAt} />.
                </p>
              ) : (
                <TerminalView
                  session={data}
                  canWrite={data.openedBy === me?.user.id}
                  label={`Terminal on ${name}`}
                  onEnded={() => void queryClient.invalidateQueries({ queryKey: terminalKeys.all })}
                  {...(can(role, "terminals.open") || data.openedBy === me?.user.id
                    ? { onClose: () => close.mutate(), closing: close.isPending }
                    : {})}
                />
              )}
            </>
          );
        }}
      </QueryState>
    </section>
  );
}
