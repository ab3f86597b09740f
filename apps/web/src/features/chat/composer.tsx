import { chatRoutes, MAX_MESSAGE_CHARS, type Message } from "@perseus/contracts";
import { type KeyboardEvent, useId, useMemo, useRef, useState } from "react";
import { api } from "../../api/api.js";
import { describeError } from "../../api/errors.js";
import { CHAT } from "./chat-api.js";
import { applyMention, findMentionQuery, type MentionCandidate, rankCandidates } from "./mentions.js";

type Props = {
  chatgroupId: string;
  /** Accessible name of the text box, e.g. "Message #general" or "Reply in thread". */
  label: string;
  threadRootId?: string;
  candidates: MentionCandidate[];
  disabled?: boolean;
  onSent: (message: Message) => void;
  onTyping: () => void;
};

function newClientKey(): string {
  return `web-${crypto.randomUUID()}`;
}

/** The message box: markdown text, `@` autocomplete (a combobox with a listbox), Enter to send. */
export function Composer({
  chatgroupId,
  label,
  threadRootId,
  candidates,
  disabled,
  onSent,
  onTyping,
}: Props) {
  const [text, setText] = useState("");
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<number | null>(null);
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // One key per draft: a retried post after a lost answer returns the first message.
  const clientKey = useRef(newClientKey());
  const lastTyping = useRef(0);
  const box = useRef<HTMLTextAreaElement>(null);
  const id = useId();
  const listId = `${id}-mentions`;

  const query = findMentionQuery(text, caret);
  const options = useMemo(
    () => (query && dismissed !== query.start ? rankCandidates(candidates, query.query) : []),
    [candidates, query, dismissed],
  );
  const open = options.length > 0;
  const current = Math.min(active, Math.max(options.length - 1, 0));

  function pick(candidate: MentionCandidate) {
    if (!query) return;
    const next = applyMention(text, query, candidate);
    setText(next.text);
    setCaret(next.caret);
    setActive(0);
    requestAnimationFrame(() => box.current?.setSelectionRange(next.caret, next.caret));
  }

  async function send() {
    if (!text.trim() || sending) return;
    setSending(true);
    setError(null);
    try {
      const message = await api.call(CHAT, chatRoutes.postMessage, {
        params: { chatgroupId },
        body: { body: text, clientKey: clientKey.current, ...(threadRootId ? { threadRootId } : {}) },
      });
      clientKey.current = newClientKey();
      setText("");
      setCaret(0);
      onSent(message);
    } catch (cause) {
      setError(describeError(cause));
    } finally {
      setSending(false);
      box.current?.focus();
    }
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (open) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        setActive((current + step + options.length) % options.length);
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        const chosen = options[current];
        if (chosen) {
          event.preventDefault();
          pick(chosen);
          return;
        }
      }
      if (event.key === "Escape") {
        event.preventDefault();
        setDismissed(query?.start ?? null);
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void send();
    }
  }

  function onChange(value: string, position: number) {
    setText(value);
    setCaret(position);
    setActive(0);
    setDismissed(null);
    const now = Date.now();
    if (value && now - lastTyping.current > 3_000) {
      lastTyping.current = now;
      onTyping();
    }
  }

  const activeOption = open ? options[current] : undefined;
  return (
    <form
      className="composer"
      onSubmit={(event) => {
        event.preventDefault();
        void send();
      }}
    >
      <label htmlFor={`${id}-text`} className="visually-hidden">
        {label}
      </label>
      <div className="composer-box">
        <textarea
          ref={box}
          id={`${id}-text`}
          className="composer-input"
          rows={2}
          value={text}
          maxLength={MAX_MESSAGE_CHARS}
          placeholder={`${label} — markdown, @ to mention, Shift+Enter for a new line`}
          disabled={disabled}
          role="combobox"
          aria-autocomplete="list"
          aria-expanded={open}
          aria-controls={listId}
          aria-activedescendant={activeOption ? `${listId}-${activeOption.id}` : undefined}
          aria-describedby={error ? `${id}-error` : undefined}
          onChange={(event) => onChange(event.target.value, event.target.selectionStart)}
          onSelect={(event) => setCaret(event.currentTarget.selectionStart)}
          onKeyDown={onKeyDown}
        />
        <div
          id={listId}
          role="listbox"
          aria-label="Mention suggestions"
          className="mention-list"
          hidden={!open}
        >
          {options.map((option, index) => (
            <div
              key={option.id}
              id={`${listId}-${option.id}`}
              role="option"
              tabIndex={-1}
              aria-selected={index === current}
              className="mention-option"
              onMouseDown={(event) => {
                event.preventDefault();
                pick(option);
              }}
            >
              <span className="mention-handle">@{option.handle}</span>
              <span className="muted small">{option.name}</span>
              {option.kind === "robot" ? <span className="badge badge-robot">robot</span> : null}
            </div>
          ))}
        </div>
        <button type="submit" className="button" disabled={disabled || sending || !text.trim()}>
          {sending ? "Sending…" : "Send"}
        </button>
      </div>
      {error ? (
        <p id={`${id}-error`} role="alert" className="field-error">
          Not sent: {error}
        </p>
      ) : null}
    </form>
  );
}
