import type { Message } from "@perseus/contracts";
import { useEffect, useLayoutEffect, useRef } from "react";
import { type MessageContext, MessageItem } from "./message-item.js";
import type { TaskView } from "./task-stream.js";

type Props = {
  label: string;
  messages: Message[];
  context: MessageContext;
  tasksByMessage: Map<string, TaskView[]>;
  replies: Map<string, number>;
  hasMoreBefore: boolean;
  loadingOlder: boolean;
  onLoadOlder: () => void;
  onOpenThread?: (message: Message) => void;
};

/**
 * The scrolling message log: keeps the view pinned to the bottom while the reader is
 * there, keeps the reading position when older pages are prepended, and loads older
 * history when the top comes into view (or by the button, for keyboards).
 */
export function MessageList(props: Props) {
  const { messages, hasMoreBefore, loadingOlder, onLoadOlder } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const sentinel = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  const previous = useRef({ first: 0, height: 0 });

  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const first = messages[0]?.seq ?? 0;
    if (previous.current.first && first < previous.current.first) {
      // Older messages came in above: keep what the reader was looking at in place.
      element.scrollTop += element.scrollHeight - previous.current.height;
    } else if (pinned.current) element.scrollTop = element.scrollHeight;
    previous.current = { first, height: element.scrollHeight };
  });

  useEffect(() => {
    const target = sentinel.current;
    if (!target || !hasMoreBefore || typeof IntersectionObserver === "undefined") return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) onLoadOlder();
    });
    observer.observe(target);
    return () => observer.disconnect();
  }, [hasMoreBefore, onLoadOlder]);

  return (
    <div
      ref={scroller}
      className="message-scroll"
      role="log"
      aria-label={props.label}
      aria-busy={loadingOlder}
      // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take focus so keyboards can scroll it
      tabIndex={0}
      onScroll={(event) => {
        const element = event.currentTarget;
        pinned.current = element.scrollHeight - element.scrollTop - element.clientHeight < 80;
      }}
    >
      <div ref={sentinel} className="history-top">
        {hasMoreBefore ? (
          <button
            type="button"
            className="button button-ghost button-small"
            disabled={loadingOlder}
            onClick={onLoadOlder}
          >
            {loadingOlder ? "Loading older messages…" : "Load older messages"}
          </button>
        ) : messages.length ? (
          <p className="muted small">This is the beginning of the conversation.</p>
        ) : null}
      </div>
      {messages.length === 0 ? <p className="empty">No messages yet. Say hello!</p> : null}
      {messages.map((message) => (
        <MessageItem
          key={message.id}
          message={message}
          context={props.context}
          tasks={props.tasksByMessage.get(message.id)}
          replies={props.replies.get(message.id)}
          onOpenThread={props.onOpenThread}
        />
      ))}
    </div>
  );
}
