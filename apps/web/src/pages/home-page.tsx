import { dispatchRoutes } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { api } from "../api/api.js";
import { ErrorMessage } from "../components/error-message.js";
import { usePresence, useRobots } from "../features/robots/robot-queries.js";
import { TaskStatusBadge } from "../features/tasks/task-status.js";
import { useSession } from "../session/session.js";

/** The start page of the console: who is here, which robots are up, what is running. */
export function HomePage() {
  const { session } = useSession();
  const robots = useRobots();
  const presence = usePresence();
  const running = useQuery({
    queryKey: ["dispatch", "tasks", { status: "running" }],
    queryFn: ({ signal }) =>
      api.call("/api/dispatch", dispatchRoutes.listTasks, {
        query: { status: "running", limit: 10 },
        signal,
      }),
    refetchInterval: 5_000,
  });
  const live = (robots.data?.items ?? []).filter((robot) => !robot.revokedAt);
  const online = live.filter(
    (robot) => (presence.data?.get(robot.id)?.state ?? "offline") !== "offline",
  ).length;

  return (
    <section className="page" aria-labelledby="home-title">
      <h1 id="home-title">Welcome, {session?.user.name}</h1>
      <p className="muted">
        People and AI robots work together in chatgroups: mention a robot, it picks up the task on its own
        machine and answers in the chat.
      </p>
      <div className="grid">
        <article className="card" aria-labelledby="home-robots">
          <h2 id="home-robots">Robots</h2>
          {robots.isPending ? (
            <p role="status">Loading robots…</p>
          ) : (
            <p>
              <strong>{online}</strong> of {live.length} online.{" "}
              <Link to="/robots">{live.length ? "Manage robots" : "Create your first robot"}</Link>
            </p>
          )}
          <ErrorMessage error={robots.error ?? presence.error} />
        </article>
        <article className="card" aria-labelledby="home-running">
          <h2 id="home-running">Running now</h2>
          {running.isPending ? (
            <p role="status">Loading tasks…</p>
          ) : running.data?.items.length ? (
            <ul className="plain-list">
              {running.data.items.map((task) => (
                <li key={task.id}>
                  <TaskStatusBadge status={task.status} />{" "}
                  <Link to="/tasks/$taskId" params={{ taskId: task.id }}>
                    {task.prompt.slice(0, 60)}
                  </Link>
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted">Nothing is running.</p>
          )}
          <ErrorMessage error={running.error} />
        </article>
      </div>
    </section>
  );
}
