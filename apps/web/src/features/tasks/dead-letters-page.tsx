import { dispatchRoutes } from "@perseus/contracts";
import { useInfiniteQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { api } from "../../api/api.js";
import { LoadMoreButton } from "../../components/data-table.js";
import { QueryState } from "../../components/query-state.js";
import { TimeText } from "../../components/time-text.js";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { useRobots } from "../robots/robot-queries.js";
import { TaskActions } from "./task-actions.js";

/** Tasks that used up their attempts: retry them with fresh attempts, or discard them. */
export function DeadLettersPage() {
  const { role } = useSession();
  const robots = useRobots();
  const letters = useInfiniteQuery({
    queryKey: ["dispatch", "dead-letters"],
    queryFn: ({ pageParam, signal }) =>
      api.call("/api/dispatch", dispatchRoutes.listDeadLetters, {
        query: { limit: 50, ...(pageParam ? { cursor: pageParam } : {}) },
        signal,
      }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (page) => page.nextCursor ?? undefined,
  });
  const handle = new Map((robots.data?.items ?? []).map((robot) => [robot.id, robot.handle]));

  return (
    <section className="page" aria-labelledby="dead-title">
      <h1 id="dead-title">Dead letters</h1>
      {can(role, "tasks.manage") ? null : (
        <p className="muted">Only owners and admins may retry or discard dead letters.</p>
      )}
      <QueryState
        query={letters}
        label="dead letters"
        isEmpty={(data) => data.pages.every((page) => page.items.length === 0)}
        empty={<p>No dead letters: every task finished or is still being worked on.</p>}
      >
        {(data) => (
          <ul className="row-list card">
            {data.pages
              .flatMap((page) => page.items)
              .map((task) => (
                <li key={task.id} className="row">
                  <div className="row-main">
                    <Link to="/tasks/$taskId" params={{ taskId: task.id }} className="row-title">
                      {task.prompt.slice(0, 100)}
                    </Link>
                    <span className="muted small">
                      @{handle.get(task.robotId) ?? "robot"} · {task.attempt} attempts · failed{" "}
                      <TimeText iso={task.finishedAt ?? task.updatedAt} />
                    </span>
                  </div>
                  {task.error ? <p className="small">{task.error}</p> : null}
                  <TaskActions task={task} />
                </li>
              ))}
          </ul>
        )}
      </QueryState>
      <LoadMoreButton pages={letters} label="Load more dead letters" />
    </section>
  );
}
