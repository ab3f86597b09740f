import { authRoutes, dispatchRoutes, TaskStatus } from "@perseus/contracts";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { Link, useNavigate, useSearch } from "@tanstack/react-router";
import { useId } from "react";
import { z } from "zod";
import { api } from "../../api/api.js";
import { DataTable } from "../../components/data-table.js";
import { QueryState } from "../../components/query-state.js";
import { TimeText } from "../../components/time-text.js";
import { useRobots } from "../robots/robot-queries.js";
import { TaskStatusBadge, terminalStatuses } from "./task-status.js";

/** The list's filters live in the URL, so a filtered view can be shared and survives reloads. */
export const tasksSearch = z.object({
  status: TaskStatus.optional().catch(undefined),
  robotId: z.uuid().optional().catch(undefined),
  chatgroupId: z.uuid().optional().catch(undefined),
});
export type TasksSearch = z.infer<typeof tasksSearch>;

/** Tasks the caller may see, newest first, filtered by status, robot and chatgroup. */
export function TasksPage() {
  const search = useSearch({ from: "/app/tasks" });
  const navigate = useNavigate({ from: "/tasks" });
  const ids = { status: useId(), robot: useId(), chatgroup: useId() };
  const robots = useRobots();
  const chatgroups = useQuery({
    queryKey: ["auth", "chatgroups", "false"],
    queryFn: ({ signal }) =>
      api.call("/api/auth", authRoutes.listChatgroups, { query: { includeArchived: "false" }, signal }),
  });
  const tasks = useInfiniteQuery({
    queryKey: ["dispatch", "tasks", search],
    queryFn: ({ pageParam, signal }) =>
      api.call("/api/dispatch", dispatchRoutes.listTasks, {
        query: { ...search, limit: 50, ...(pageParam ? { cursor: pageParam } : {}) },
        signal,
      }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (page) => page.nextCursor ?? undefined,
    // Running tasks change by the second: keep the list fresh while any is unfinished.
    refetchInterval: (query) =>
      query.state.data?.pages.some((page) => page.items.some((task) => !terminalStatuses.has(task.status)))
        ? 5_000
        : false,
  });
  const robotName = new Map((robots.data?.items ?? []).map((robot) => [robot.id, `@${robot.handle}`]));
  const groupName = new Map((chatgroups.data?.items ?? []).map((group) => [group.id, `#${group.name}`]));
  const setFilter = (patch: Partial<TasksSearch>) =>
    void navigate({ search: (current) => ({ ...current, ...patch }) });

  return (
    <section className="page" aria-labelledby="tasks-title">
      <h1 id="tasks-title">Tasks</h1>
      <form className="card filters" aria-label="Filter tasks" onSubmit={(event) => event.preventDefault()}>
        <div className="field">
          <label htmlFor={ids.status}>Status</label>
          <select
            id={ids.status}
            value={search.status ?? ""}
            onChange={(event) =>
              setFilter({ status: (event.target.value || undefined) as TasksSearch["status"] })
            }
          >
            <option value="">Any status</option>
            {TaskStatus.options.map((status) => (
              <option key={status} value={status}>
                {status}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={ids.robot}>Robot</label>
          <select
            id={ids.robot}
            value={search.robotId ?? ""}
            onChange={(event) => setFilter({ robotId: event.target.value || undefined })}
          >
            <option value="">Any robot</option>
            {(robots.data?.items ?? []).map((robot) => (
              <option key={robot.id} value={robot.id}>
                @{robot.handle}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={ids.chatgroup}>Chatgroup</label>
          <select
            id={ids.chatgroup}
            value={search.chatgroupId ?? ""}
            onChange={(event) => setFilter({ chatgroupId: event.target.value || undefined })}
          >
            <option value="">Any chatgroup</option>
            {(chatgroups.data?.items ?? []).map((group) => (
              <option key={group.id} value={group.id}>
                #{group.name}
              </option>
            ))}
          </select>
        </div>
      </form>
      <QueryState
        query={tasks}
        label="tasks"
        isEmpty={(data) => data.pages.every((page) => page.items.length === 0)}
        empty={<p>No tasks match. Tasks appear when someone @mentions a robot in a chatgroup.</p>}
      >
        {(data) => (
          <DataTable
            caption="Tasks"
            columns={["Task", "Status", "Robot", "Chatgroup", "Attempt", "Created"]}
            more={{ pages: tasks, label: "Load more tasks" }}
          >
            {data.pages
              .flatMap((page) => page.items)
              .map((task) => (
                <tr key={task.id}>
                  <th scope="row" className="prompt-cell">
                    <Link to="/tasks/$taskId" params={{ taskId: task.id }}>
                      {task.prompt.slice(0, 80) || task.id}
                    </Link>
                  </th>
                  <td>
                    <TaskStatusBadge status={task.status} />
                  </td>
                  <td>{robotName.get(task.robotId) ?? "—"}</td>
                  <td>{task.chatgroupId ? (groupName.get(task.chatgroupId) ?? "—") : "—"}</td>
                  <td>
                    {task.attempt}/{task.maxAttempts}
                  </td>
                  <td>
                    <TimeText iso={task.createdAt} />
                  </td>
                </tr>
              ))}
          </DataTable>
        )}
      </QueryState>
    </section>
  );
}
