import type { Robot } from "@perseus/contracts";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { describeError } from "../../api/errors.js";
import { OpenTerminalButton } from "../terminal/terminal-actions.js";
import { cancelTask, chatKeys, retryTask } from "./chat-api.js";
import { Markdown } from "./markdown.js";
import { chipOf, isFinished, type TaskView } from "./task-stream.js";

type Props = {
  view: TaskView;
  robotName: string;
  chatgroupId: string;
  /** Owners and admins may retry; the server decides anyway. */
  canRetry: boolean;
  /** The robot's reply message is already in the list (no need to show the stream). */
  replied: boolean;
  /** Set when this person may open a terminal on the task's robot. */
  terminalRobot?: Robot | undefined;
};

/** A robot task started by a message: status chip, live reply while it runs, cancel/retry. */
export function TaskCard({ view, robotName, chatgroupId, canRetry, replied, terminalRobot }: Props) {
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: chatKeys.tasks(chatgroupId) });
  const cancel = useMutation({ mutationFn: () => cancelTask(view.taskId), onSuccess: refresh });
  const retry = useMutation({ mutationFn: () => retryTask(view.taskId), onSuccess: refresh });
  const chip = chipOf(view.status);
  const { text, note, tools, reasoning, output } = view.assembled;
  const streaming = !isFinished(view.status) || (!replied && view.status === "succeeded");
  const failure = cancel.error ?? retry.error;

  return (
    <section className="task-card" aria-label={`Task of ${robotName}`}>
      <div className="task-card-head">
        <span className="task-robot">{robotName}</span>
        <span className={`chip chip-${chip}`} role="status" aria-label={`Task ${chip}`}>
          {chip === "failed" && view.status !== "failed" ? view.status : chip}
        </span>
        {!isFinished(view.status) ? (
          <button
            type="button"
            className="button button-ghost button-small"
            disabled={cancel.isPending}
            onClick={() => cancel.mutate()}
            aria-label={`Cancel the task of ${robotName}`}
          >
            Cancel
          </button>
        ) : null}
        {canRetry && (view.status === "failed" || view.status === "dead" || view.status === "cancelled") ? (
          <button
            type="button"
            className="button button-ghost button-small"
            disabled={retry.isPending}
            onClick={() => retry.mutate()}
            aria-label={`Retry the task of ${robotName}`}
          >
            Retry
          </button>
        ) : null}
        {terminalRobot ? (
          <OpenTerminalButton
            robot={terminalRobot}
            taskId={view.taskId}
            chatgroupId={chatgroupId}
            className="button button-ghost button-small"
            label="Terminal"
            ariaLabel={`Open a terminal on ${robotName} for this task`}
          />
        ) : null}
      </div>
      {streaming && (text || note || tools.length || reasoning || output) ? (
        <div className="task-stream" aria-live="polite" aria-busy={!isFinished(view.status)}>
          {note ? <p className="muted small">{note}</p> : null}
          {tools.length ? (
            <p className="muted small">
              Tools: {tools.slice(-3).join(" · ")}
              {tools.length > 3 ? ` (+${tools.length - 3})` : ""}
            </p>
          ) : null}
          {output ? <pre className="task-output">{output}</pre> : null}
          {text ? <Markdown text={text} /> : output ? null : <p className="muted small">Thinking…</p>}
        </div>
      ) : null}
      {view.error && chip === "failed" ? <p className="field-error">{view.error}</p> : null}
      {failure ? (
        <p role="alert" className="field-error">
          {describeError(failure)}
        </p>
      ) : null}
    </section>
  );
}
