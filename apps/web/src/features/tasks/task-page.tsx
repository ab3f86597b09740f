import { dispatchRoutes, type Robot, type TaskDetail, TaskUsage } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "@tanstack/react-router";
import { api } from "../../api/api.js";
import { QueryState } from "../../components/query-state.js";
import { TimeText } from "../../components/time-text.js";
import { useSession } from "../../session/session.js";
import { useRobots } from "../robots/robot-queries.js";
import { canOpenTerminal, OpenTerminalButton } from "../terminal/terminal-actions.js";
import { TaskActions } from "./task-actions.js";
import { TaskStatusBadge, terminalStatuses, usageSummary } from "./task-status.js";

function Usage({ usage }: { usage: Record<string, unknown> }) {
  const parsed = TaskUsage.safeParse(usage);
  const summary = usageSummary(usage);
  if (!summary) return <p className="muted">No usage reported.</p>;
  return (
    <>
      <p>{summary}</p>
      {parsed.success && parsed.data.models?.length ? (
        <table>
          <caption className="visually-hidden">Usage per model</caption>
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Tokens in / out</th>
              <th scope="col">Cost</th>
              <th scope="col">Moved on because</th>
            </tr>
          </thead>
          <tbody>
            {parsed.data.models.map((model, index) => (
              <tr key={`${model.model}-${index}`}>
                <th scope="row">{model.profile ? `${model.profile} (${model.model})` : model.model}</th>
                <td>
                  {model.inputTokens} / {model.outputTokens}
                </td>
                <td>{model.costUsd !== undefined ? `$${model.costUsd.toFixed(4)}` : "—"}</td>
                <td>{model.escalation ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </>
  );
}

function Detail({ task, robot }: { task: TaskDetail; robot: Robot | undefined }) {
  const { role } = useSession();
  const robotHandle = robot?.handle;
  return (
    <>
      <div className="page-header">
        <h1 id="task-title">Task</h1>
        <div className="actions">
          <TaskStatusBadge status={task.status} />
          {robot && canOpenTerminal(role, robot) ? (
            <OpenTerminalButton robot={robot} taskId={task.id} chatgroupId={task.chatgroupId} />
          ) : null}
        </div>
      </div>
      <TaskActions task={task} />
      <blockquote className="card prompt">{task.prompt}</blockquote>
      <dl className="facts">
        <dt>Robot</dt>
        <dd>
          {robotHandle ? (
            <Link to="/robots/$robotId" params={{ robotId: task.robotId }}>
              @{robotHandle}
            </Link>
          ) : (
            task.robotId
          )}
        </dd>
        <dt>Attempt</dt>
        <dd>
          {task.attempt} of {task.maxAttempts}
        </dd>
        <dt>Lease</dt>
        <dd>
          {task.leaseExpiresAt ? (
            <>
              epoch {task.leaseEpoch}, expires <TimeText iso={task.leaseExpiresAt} />
            </>
          ) : (
            <span className="muted">none (epoch {task.leaseEpoch})</span>
          )}
        </dd>
        <dt>Created</dt>
        <dd>
          <TimeText iso={task.createdAt} />
        </dd>
        <dt>Finished</dt>
        <dd>
          <TimeText iso={task.finishedAt} fallback="not yet" />
        </dd>
        {task.notBefore ? (
          <>
            <dt>Next try</dt>
            <dd>
              <TimeText iso={task.notBefore} />
            </dd>
          </>
        ) : null}
      </dl>
      <div className="grid">
        <article className="card" aria-labelledby="task-result">
          <h2 id="task-result">Result</h2>
          {task.error ? <p className="alert alert-error">{task.error}</p> : null}
          {task.result ? (
            <pre className="output">{task.result}</pre>
          ) : (
            <p className="muted">No result yet.</p>
          )}
        </article>
        <article className="card" aria-labelledby="task-usage">
          <h2 id="task-usage">Usage and cost</h2>
          <Usage usage={task.usage} />
        </article>
      </div>
      <article className="card" aria-labelledby="task-attempts">
        <h2 id="task-attempts">Attempts</h2>
        {task.attempts.length === 0 ? (
          <p className="muted">Not picked up yet.</p>
        ) : (
          <div className="table-scroll">
            <table>
              <caption className="visually-hidden">Attempts</caption>
              <thead>
                <tr>
                  <th scope="col">Attempt</th>
                  <th scope="col">Started</th>
                  <th scope="col">Ended</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Error</th>
                </tr>
              </thead>
              <tbody>
                {task.attempts.map((attempt) => (
                  <tr key={attempt.epoch}>
                    <th scope="row">
                      {attempt.attempt} (epoch {attempt.epoch})
                    </th>
                    <td>
                      <TimeText iso={attempt.startedAt} />
                    </td>
                    <td>
                      <TimeText iso={attempt.endedAt} fallback="running" />
                    </td>
                    <td>{attempt.outcome ?? "running"}</td>
                    <td>{attempt.error ?? "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </article>
      <article className="card" aria-labelledby="task-progress">
        <h2 id="task-progress">Progress log</h2>
        {task.progress.length === 0 ? (
          <p className="muted">No progress reported yet.</p>
        ) : (
          <ol className="progress-log" aria-live="polite">
            {task.progress.map((entry) => (
              <li key={`${entry.epoch}-${entry.seq}`} className={`progress progress-${entry.kind}`}>
                <span className="progress-kind">{entry.kind}</span>
                <pre>{entry.data}</pre>
              </li>
            ))}
          </ol>
        )}
      </article>
    </>
  );
}

/** One task: status, lease, attempts, progress, result and cost; refreshed while it runs. */
export function TaskPage() {
  const { taskId } = useParams({ from: "/app/tasks/$taskId" });
  const robots = useRobots();
  const task = useQuery({
    queryKey: ["dispatch", "task", taskId],
    queryFn: ({ signal }) =>
      api.call("/api/dispatch", dispatchRoutes.getTask, { params: { id: taskId }, signal }),
    refetchInterval: (query) =>
      query.state.data && terminalStatuses.has(query.state.data.status) ? false : 2_000,
  });
  return (
    <section className="page" aria-labelledby="task-title">
      <p className="small">
        <Link to="/tasks">← All tasks</Link>
      </p>
      <QueryState query={task} label="task">
        {(data) => (
          <Detail task={data} robot={robots.data?.items.find((robot) => robot.id === data.robotId)} />
        )}
      </QueryState>
    </section>
  );
}
