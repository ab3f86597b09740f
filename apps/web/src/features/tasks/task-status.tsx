import { type Task, TaskUsage } from "@perseus/contracts";

const labels: Record<Task["status"], string> = {
  queued: "Queued",
  offered: "Offered",
  running: "Running",
  succeeded: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
  dead: "Dead letter",
};
const classes: Record<Task["status"], string> = {
  queued: "badge-unknown",
  offered: "badge-unknown",
  running: "badge-busy",
  succeeded: "badge-ready",
  failed: "badge-down",
  cancelled: "badge-neutral",
  dead: "badge-down",
};

export const terminalStatuses: ReadonlySet<Task["status"]> = new Set([
  "succeeded",
  "failed",
  "cancelled",
  "dead",
]);

export function TaskStatusBadge({ status }: { status: Task["status"] }) {
  return <span className={`badge ${classes[status]}`}>{labels[status]}</span>;
}

/** The cost line of a task's usage record, when the robot reported one (empty otherwise). */
export function usageSummary(usage: Record<string, unknown>): string {
  const parsed = TaskUsage.safeParse(usage);
  if (!parsed.success) return "";
  const { inputTokens, outputTokens, costUsd, model } = parsed.data;
  const parts: string[] = [];
  if (inputTokens !== undefined || outputTokens !== undefined)
    parts.push(`${inputTokens ?? 0} in / ${outputTokens ?? 0} out tokens`);
  if (costUsd !== undefined) parts.push(`$${costUsd.toFixed(4)}`);
  if (model) parts.push(model);
  return parts.join(" · ");
}

export const taskEtag = (task: Pick<Task, "version">) => `"${task.version}"`;
