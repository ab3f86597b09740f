import { chatRoutes, type Message } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { api } from "../../api/api.js";
import { describeError } from "../../api/errors.js";
import { CHAT, chatKeys, fetchMessages } from "./chat-api.js";
import { Composer } from "./composer.js";
import type { MentionCandidate } from "./mentions.js";
import type { MessageContext } from "./message-item.js";
import { MessageList } from "./message-list.js";
import type { TaskView } from "./task-stream.js";

type Props = {
  rootId: string;
  chatgroupId: string;
  /** Replies already in the live timeline (they arrive over the socket). */
  liveMessages: Message[];
  context: MessageContext;
  tasksByMessage: Map<string, TaskView[]>;
  candidates: MentionCandidate[];
  onClose: () => void;
  onSent: (message: Message) => void;
  onTyping: () => void;
};

/** A thread beside the chat: its root, the replies (stored and live) and a reply box. */
export function ThreadPanel(props: Props) {
  const { rootId, chatgroupId, liveMessages } = props;
  const root = useQuery({
    queryKey: [...chatKeys.thread(rootId), "root"],
    queryFn: ({ signal }) => api.call(CHAT, chatRoutes.getMessage, { params: { messageId: rootId }, signal }),
  });
  const stored = useQuery({
    queryKey: chatKeys.thread(rootId),
    queryFn: ({ signal }) => fetchMessages(chatgroupId, { threadRootId: rootId, limit: 200 }, signal),
  });
  const messages = useMemo(() => {
    const byId = new Map<string, Message>();
    const liveRoot = liveMessages.find((message) => message.id === rootId);
    const rootMessage = liveRoot ?? root.data;
    if (rootMessage) byId.set(rootMessage.id, rootMessage);
    for (const message of stored.data?.items ?? []) byId.set(message.id, message);
    // Live copies are newer (reactions, edits) than the stored page.
    for (const message of liveMessages) if (message.threadRootId === rootId) byId.set(message.id, message);
    return [...byId.values()].sort((a, b) => a.seq - b.seq);
  }, [liveMessages, root.data, stored.data, rootId]);

  const error = root.error ?? stored.error;
  return (
    <aside className="thread-panel" aria-label="Thread">
      <header className="thread-head">
        <h2>Thread</h2>
        <button type="button" className="button button-ghost button-small" onClick={props.onClose}>
          Close thread
        </button>
      </header>
      {error ? (
        <p role="alert" className="alert alert-error">
          {describeError(error)}
        </p>
      ) : root.isPending || stored.isPending ? (
        <p className="muted" role="status">
          Loading the thread…
        </p>
      ) : (
        <MessageList
          label="Thread messages"
          messages={messages}
          context={props.context}
          tasksByMessage={props.tasksByMessage}
          replies={new Map()}
          hasMoreBefore={false}
          loadingOlder={false}
          onLoadOlder={() => {}}
        />
      )}
      <Composer
        chatgroupId={chatgroupId}
        label="Reply in thread"
        threadRootId={rootId}
        candidates={props.candidates}
        onSent={props.onSent}
        onTyping={props.onTyping}
      />
    </aside>
  );
}
