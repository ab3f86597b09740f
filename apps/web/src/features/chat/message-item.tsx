import { chatRoutes, type Message, type Robot } from "@perseus/contracts";
import { useState } from "react";
import { api } from "../../api/api.js";
import { describeError } from "../../api/errors.js";
import { CHAT } from "./chat-api.js";
import { Markdown } from "./markdown.js";
import { TaskCard } from "./task-card.js";
import type { TaskView } from "./task-stream.js";

const QUICK_REACTIONS = ["👍", "❤️", "😄", "🎉", "👀", "✅"];

export type MessageContext = {
  selfId: string;
  chatgroupId: string;
  nameOf: (type: Message["authorType"], id: string | null) => string;
  canRetry: boolean;
  onChanged: (message: Message) => void;
  /** Ids of tasks whose reply message is loaded. */
  repliedTasks: ReadonlySet<string>;
  /** The robot, when this person may open a terminal on it (owners and admins, `terminal` robots). */
  terminalRobot?: (robotId: string) => Robot | undefined;
};

type Props = {
  message: Message;
  context: MessageContext;
  tasks?: TaskView[] | undefined;
  replies?: number | undefined;
  onOpenThread?: ((message: Message) => void) | undefined;
};

function time(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
}

/** One message: author, markdown body, attachments, reactions, thread link and robot tasks. */
export function MessageItem({ message, context, tasks, replies, onOpenThread }: Props) {
  const [picking, setPicking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const author = context.nameOf(message.authorType, message.authorId);

  async function toggle(emoji: string, mine: boolean) {
    setError(null);
    setPicking(false);
    try {
      const route = mine ? chatRoutes.removeReaction : chatRoutes.addReaction;
      context.onChanged(await api.call(CHAT, route, { params: { messageId: message.id, emoji } }));
    } catch (cause) {
      setError(describeError(cause));
    }
  }

  return (
    <article
      className={`message message-${message.authorType}`}
      aria-label={`${author}, ${time(message.createdAt)}`}
    >
      <header className="message-head">
        <span className="message-author">{author}</span>
        {message.authorType === "robot" ? <span className="badge badge-robot">robot</span> : null}
        <time className="muted small" dateTime={message.createdAt}>
          {time(message.createdAt)}
        </time>
        {message.editedAt ? <span className="muted small">(edited)</span> : null}
      </header>
      {message.deletedAt ? (
        <p className="muted message-deleted">This message was deleted.</p>
      ) : (
        <Markdown text={message.body} />
      )}
      {message.attachments.length ? (
        <ul className="attachments" aria-label="Attachments">
          {message.attachments.map((file) => (
            <li key={`${file.layer}:${file.path}`} className="attachment">
              📎 {file.path} <span className="muted small">({file.layer})</span>
            </li>
          ))}
        </ul>
      ) : null}
      {tasks?.map((view) => (
        <TaskCard
          key={view.taskId}
          view={view}
          robotName={context.nameOf("robot", view.robotId)}
          terminalRobot={context.terminalRobot?.(view.robotId)}
          chatgroupId={context.chatgroupId}
          canRetry={context.canRetry}
          replied={context.repliedTasks.has(view.taskId)}
        />
      ))}
      {!message.deletedAt ? (
        <div className="message-actions">
          {message.reactions.map((reaction) => {
            const mine = reaction.userIds.includes(context.selfId);
            return (
              <button
                key={reaction.emoji}
                type="button"
                className={`reaction${mine ? " mine" : ""}`}
                aria-pressed={mine}
                aria-label={`${reaction.emoji} ${reaction.count}, ${mine ? "remove your reaction" : "react"}`}
                onClick={() => void toggle(reaction.emoji, mine)}
              >
                {reaction.emoji} {reaction.count}
              </button>
            );
          })}
          <button
            type="button"
            className="button button-ghost button-small"
            aria-expanded={picking}
            aria-label={`Add a reaction to the message of ${author}`}
            onClick={() => setPicking((value) => !value)}
          >
            ☺+
          </button>
          {picking ? (
            <fieldset className="reaction-picker">
              <legend className="visually-hidden">Pick a reaction</legend>
              {QUICK_REACTIONS.map((emoji) => (
                <button
                  key={emoji}
                  type="button"
                  className="reaction"
                  aria-label={`React with ${emoji}`}
                  onClick={() =>
                    void toggle(
                      emoji,
                      message.reactions.some((r) => r.emoji === emoji && r.userIds.includes(context.selfId)),
                    )
                  }
                >
                  {emoji}
                </button>
              ))}
            </fieldset>
          ) : null}
          {onOpenThread ? (
            <button
              type="button"
              className="button button-ghost button-small"
              aria-label={`Open the thread of the message of ${author}${replies ? ` (${replies} replies)` : ""}`}
              onClick={() => onOpenThread(message)}
            >
              {replies ? `${replies} ${replies === 1 ? "reply" : "replies"}` : "Reply in thread"}
            </button>
          ) : null}
        </div>
      ) : null}
      {error ? (
        <p role="alert" className="field-error">
          {error}
        </p>
      ) : null}
    </article>
  );
}
