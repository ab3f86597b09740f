import type { ChatgroupActivity, Message } from "@perseus/contracts";
import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useState } from "react";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { useRobots } from "../robots/robot-queries.js";
import { canOpenTerminal } from "../terminal/terminal-actions.js";
import { ApprovalsPanel } from "./approvals-panel.js";
import { chatKeys, useChatgroupTasks, useMentionCandidates } from "./chat-api.js";
import { Composer } from "./composer.js";
import type { MessageContext } from "./message-item.js";
import { MessageList } from "./message-list.js";
import { isFinished, taskViewsByMessage } from "./task-stream.js";
import { ThreadPanel } from "./thread-panel.js";
import { replyCounts } from "./timeline.js";
import { markRead, useChatRoom } from "./use-chat-room.js";
import type { Realtime } from "./use-realtime.js";

type Props = {
  group: ChatgroupActivity;
  realtime: Realtime;
  threadId: string | undefined;
  onThread: (threadId: string | undefined) => void;
};

/** One open chatgroup: live log, composer, robot tasks and approvals, and a thread beside it. */
export function ChatRoom({ group, realtime, threadId, onThread }: Props) {
  const { session, role } = useSession();
  const queryClient = useQueryClient();
  const chatgroupId = group.chatgroupId;
  const room = useChatRoom(realtime, chatgroupId);
  const candidates = useMentionCandidates(group);
  const [pollTasks, setPollTasks] = useState(false);
  const listedTasks = useChatgroupTasks(chatgroupId, pollTasks);
  const selfId = session?.user.id ?? "";
  const robots = useRobots();
  const terminalRobot = useCallback(
    (robotId: string) => {
      const robot = robots.data?.items.find((item) => item.id === robotId);
      return canOpenTerminal(role, robot) ? robot : undefined;
    },
    [robots.data, role],
  );

  const nameOf = useCallback(
    (type: Message["authorType"], id: string | null) => {
      if (type === "system") return "Perseus";
      if (id && id === selfId) return session?.user.name ?? "You";
      const known = candidates.data?.find((candidate) => candidate.id === id);
      if (known) return type === "robot" ? `@${known.handle}` : known.name;
      return type === "robot" ? "A robot" : "A member";
    },
    [candidates.data, selfId, session],
  );

  const messages = room.timeline.messages;
  const repliedTasks = useMemo(
    () => new Set(messages.flatMap((message) => (message.taskId ? [message.taskId] : []))),
    [messages],
  );
  const context: MessageContext = useMemo(
    () => ({
      selfId,
      chatgroupId,
      nameOf,
      canRetry: can(role, "tasks.manage"),
      onChanged: room.accept,
      repliedTasks,
      terminalRobot,
    }),
    [selfId, chatgroupId, nameOf, role, room.accept, repliedTasks, terminalRobot],
  );
  const tasksByMessage = useMemo(
    () => taskViewsByMessage(listedTasks.data?.items ?? [], room.tasks),
    [listedTasks.data, room.tasks],
  );
  // Recent robot mentions without a task, or tasks still running: keep the list fresh.
  useEffect(() => {
    const recent = messages.slice(-20);
    const waiting = recent.some(
      (message) => message.mentions.robots.length > 0 && !tasksByMessage.has(message.id),
    );
    const running = [...tasksByMessage.values()].flat().some((view) => !isFinished(view.status));
    setPollTasks(waiting || running);
  }, [messages, tasksByMessage]);
  const mainMessages = useMemo(() => messages.filter((message) => !message.threadRootId), [messages]);
  const replies = useMemo(() => replyCounts(messages), [messages]);

  // Reading the open chatgroup moves the read marker (only while the tab is visible).
  const newest = room.timeline.newestSeq;
  useEffect(() => {
    if (room.status !== "ready" || newest <= group.lastReadSeq || document.visibilityState !== "visible")
      return;
    markRead(realtime, chatgroupId, newest)
      .then(() => queryClient.invalidateQueries({ queryKey: chatKeys.chatgroups }))
      .catch(() => {});
  }, [room.status, newest, group.lastReadSeq, realtime, chatgroupId, queryClient]);

  const typingNames = room.typing.filter((id) => id !== selfId).map((id) => nameOf("user", id));
  const onTyping = () => realtime.client.typing(chatgroupId);
  const disconnected = realtime.state === "reconnecting" || realtime.state === "connecting";

  return (
    <div className={`chat-room${threadId ? " with-thread" : ""}`}>
      <section className="chat-main" aria-label={`Chatgroup ${group.name}`}>
        <header className="chat-head">
          <h1>#{group.name}</h1>
          <p className="muted small" aria-live="polite">
            {room.present.length ? `${room.present.length} online` : ""}
            {disconnected ? " · reconnecting…" : ""}
            {realtime.state === "revoked" ? " · signed out elsewhere: sign in again" : ""}
          </p>
        </header>
        {can(role, "tasks.manage") ? (
          <ApprovalsPanel chatgroupId={chatgroupId} nameOfRobot={(id) => nameOf("robot", id)} />
        ) : null}
        {room.revoked ? (
          <p role="alert" className="alert alert-error">
            You no longer have access to this chatgroup.
          </p>
        ) : null}
        {room.error ? (
          <p role="alert" className="alert alert-error">
            {room.error}
          </p>
        ) : null}
        {room.status === "loading" ? (
          <p role="status" className="muted message-scroll">
            Loading messages…
          </p>
        ) : room.status === "error" ? null : (
          <MessageList
            label={`Messages in #${group.name}`}
            messages={mainMessages}
            context={context}
            tasksByMessage={tasksByMessage}
            replies={replies}
            hasMoreBefore={room.timeline.hasMoreBefore}
            loadingOlder={room.loadingOlder}
            onLoadOlder={() => void room.loadOlder()}
            onOpenThread={(message) => onThread(message.id)}
          />
        )}
        <p className="typing muted small" aria-live="polite">
          {typingNames.length
            ? `${typingNames.join(", ")} ${typingNames.length === 1 ? "is" : "are"} typing…`
            : ""}
        </p>
        <Composer
          chatgroupId={chatgroupId}
          label={`Message #${group.name}`}
          candidates={candidates.data ?? []}
          disabled={group.isArchived || room.revoked}
          onSent={room.accept}
          onTyping={onTyping}
        />
      </section>
      {threadId ? (
        <ThreadPanel
          key={threadId}
          rootId={threadId}
          chatgroupId={chatgroupId}
          liveMessages={messages}
          context={context}
          tasksByMessage={tasksByMessage}
          candidates={candidates.data ?? []}
          onClose={() => onThread(undefined)}
          onSent={room.accept}
          onTyping={onTyping}
        />
      ) : null}
    </div>
  );
}
