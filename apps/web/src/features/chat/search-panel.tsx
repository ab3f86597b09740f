import { chatRoutes, type Message } from "@perseus/contracts";
import { useInfiniteQuery } from "@tanstack/react-query";
import { useId, useState } from "react";
import { api } from "../../api/api.js";
import { describeError } from "../../api/errors.js";
import { CHAT } from "./chat-api.js";

type Props = {
  chatgroupId: string | undefined;
  groupName: (chatgroupId: string) => string;
  onOpen: (message: Message) => void;
};

/** Full-text search over readable chatgroups (or just the open one), newest first, paged by cursor. */
export function SearchPanel({ chatgroupId, groupName, onOpen }: Props) {
  const id = useId();
  const [draft, setDraft] = useState("");
  const [query, setQuery] = useState("");
  const [onlyHere, setOnlyHere] = useState(false);
  const scope = onlyHere && chatgroupId ? chatgroupId : undefined;
  const results = useInfiniteQuery({
    queryKey: ["chat", "search", query, scope ?? "all"],
    enabled: query.length > 0,
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam, signal }) =>
      api.call(CHAT, chatRoutes.searchMessages, {
        query: {
          q: query,
          limit: 20,
          ...(scope ? { chatgroupId: scope } : {}),
          ...(pageParam ? { cursor: pageParam } : {}),
        },
        signal,
      }),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const items = results.data?.pages.flatMap((page) => page.items) ?? [];

  return (
    <section className="search-panel" aria-label="Message search">
      <form
        className="search-form"
        onSubmit={(event) => {
          event.preventDefault();
          setQuery(draft.trim());
        }}
      >
        <label htmlFor={`${id}-q`} className="visually-hidden">
          Search messages
        </label>
        <input
          id={`${id}-q`}
          type="search"
          value={draft}
          maxLength={200}
          placeholder="Search messages"
          onChange={(event) => setDraft(event.target.value)}
        />
        <button type="submit" className="button button-secondary button-small">
          Search
        </button>
        {chatgroupId ? (
          <label className="small search-scope">
            <input
              type="checkbox"
              checked={onlyHere}
              onChange={(event) => setOnlyHere(event.target.checked)}
            />{" "}
            Only this chatgroup
          </label>
        ) : null}
      </form>
      {query ? (
        results.isPending ? (
          <p role="status" className="muted small">
            Searching…
          </p>
        ) : results.error ? (
          <p role="alert" className="field-error">
            {describeError(results.error)}
          </p>
        ) : items.length === 0 ? (
          <p className="muted small">Nothing found for “{query}”.</p>
        ) : (
          <ul className="search-results" aria-label="Search results">
            {items.map((message) => (
              <li key={message.id}>
                <button type="button" className="search-hit" onClick={() => onOpen(message)}>
                  <span className="small muted">
                    #{groupName(message.chatgroupId)} · {new Date(message.createdAt).toLocaleString()}
                  </span>
                  <span className="search-snippet">{message.body.slice(0, 160)}</span>
                </button>
              </li>
            ))}
            {results.hasNextPage ? (
              <li>
                <button
                  type="button"
                  className="button button-ghost button-small"
                  disabled={results.isFetchingNextPage}
                  onClick={() => void results.fetchNextPage()}
                >
                  More results
                </button>
              </li>
            ) : null}
          </ul>
        )
      ) : null}
    </section>
  );
}
