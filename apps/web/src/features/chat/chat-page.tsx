import { Link, useNavigate, useSearch } from "@tanstack/react-router";
import { describeError } from "../../api/errors.js";
import { useChatgroupActivity } from "./chat-api.js";
import { ChatRoom } from "./chat-room.js";
import type { ChatSearch } from "./chat-search.js";
import { SearchPanel } from "./search-panel.js";
import { useRealtime } from "./use-realtime.js";
import "./chat.css";

/** The chat: chatgroups with unread counts, search, and the open chatgroup. */
export function ChatPage() {
  const search = useSearch({ strict: false }) as ChatSearch;
  const navigate = useNavigate();
  const groups = useChatgroupActivity();
  const realtime = useRealtime();
  const items = (groups.data?.items ?? []).filter(
    (group) => !group.isArchived || group.chatgroupId === search.chatgroup,
  );
  const open =
    items.find((group) => group.chatgroupId === search.chatgroup) ??
    (search.chatgroup ? undefined : items[0]);
  const go = (chatgroup: string, thread?: string) =>
    void navigate({ to: "/chat", search: { chatgroup, ...(thread ? { thread } : {}) } });

  return (
    <div className="chat-page">
      <nav className="chat-sidebar" aria-label="Chatgroups">
        <SearchPanel
          chatgroupId={open?.chatgroupId}
          groupName={(id) => items.find((group) => group.chatgroupId === id)?.name ?? "chatgroup"}
          onOpen={(message) => go(message.chatgroupId, message.threadRootId ?? undefined)}
        />
        <h2 className="nav-heading">Chatgroups</h2>
        {groups.isPending ? (
          <p role="status" className="muted small">
            Loading chatgroups…
          </p>
        ) : groups.error ? (
          <p role="alert" className="field-error">
            {describeError(groups.error)}
          </p>
        ) : items.length === 0 ? (
          <p className="muted small">
            No chatgroups yet. <Link to="/teams">Create one</Link>.
          </p>
        ) : (
          <ul className="chatgroup-list">
            {items.map((group) => {
              const current = group.chatgroupId === open?.chatgroupId;
              const unread = current ? 0 : group.unreadCount;
              return (
                <li key={group.chatgroupId}>
                  <Link
                    to="/chat"
                    search={{ chatgroup: group.chatgroupId }}
                    className={`chatgroup-link${current ? " active" : ""}${unread ? " unread" : ""}`}
                    aria-current={current ? "page" : undefined}
                    aria-label={`${group.name}${unread ? `, ${unread} unread` : ""}`}
                  >
                    <span># {group.name}</span>
                    {unread ? <span className="unread-count">{unread > 99 ? "99+" : unread}</span> : null}
                  </Link>
                </li>
              );
            })}
          </ul>
        )}
      </nav>
      {open ? (
        <ChatRoom
          key={open.chatgroupId}
          group={open}
          realtime={realtime}
          threadId={search.thread}
          onThread={(thread) => go(open.chatgroupId, thread)}
        />
      ) : groups.isPending ? null : (
        <section className="chat-main chat-empty">
          <h1>Chat</h1>
          <p className="muted">
            {search.chatgroup ? "This chatgroup does not exist or you cannot read it." : "Pick a chatgroup."}
          </p>
        </section>
      )}
    </div>
  );
}
