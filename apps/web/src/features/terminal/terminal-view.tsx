import type { TerminalSession } from "@perseus/contracts";
import { FitAddon } from "@xterm/addon-fit";
import { type ITheme, Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useEffect, useId, useRef, useState } from "react";
import { describeError } from "../../api/errors.js";
import { openWithConstructedStyles } from "./strict-csp-styles.js";
import { createTerminalTicket, describeEnding, isFinalTicketError } from "./terminal-api.js";
import { binaryString } from "./terminal-bytes.js";
import {
  createTerminalClient,
  type SocketLike,
  type TerminalClient,
  type TerminalConnectionState,
  type TerminalEnding,
} from "./terminal-client.js";
import "./terminal.css";

// One palette in both console themes: a terminal reads best light on dark.
const THEME: ITheme = {
  background: "#0f111a",
  foreground: "#e7e9f2",
  cursor: "#8ab4ff",
  cursorAccent: "#0f111a",
  selectionBackground: "#3b4cca99",
};
const FONT =
  'ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace';

function socketUrl(path: string): string {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${path}`;
}

const isMac = () => /Mac|iPhone|iPad/.test(navigator.platform);

const stateText: Record<TerminalConnectionState, string> = {
  connecting: "Connecting…",
  open: "Connected",
  reconnecting: "Reconnecting…",
  ended: "Ended",
};

type Props = {
  session: TerminalSession;
  /** Ask for a write ticket: only the person who opened the session may type. */
  canWrite: boolean;
  /** Names the terminal for assistive technology, e.g. "Terminal on @jane". */
  label: string;
  onEnded: (ending: TerminalEnding) => void;
  /** Close the session (shown to those allowed to). */
  onClose?: () => void;
  closing?: boolean;
};

/**
 * The live terminal: xterm fitted to its box, attached through the terminal socket
 * client. Keys go to the shell only while this viewer is the writer; Ctrl/⌘+Shift+C and
 * V copy and paste, Ctrl+Shift+E moves focus out of the terminal (Tab belongs to the shell).
 */
export function TerminalView({ session, canWrite, label, onEnded, onClose, closing }: Props) {
  const hostRef = useRef<HTMLDivElement>(null);
  const toolbarRef = useRef<HTMLDivElement>(null);
  const terminalRef = useRef<Terminal | null>(null);
  const clientRef = useRef<TerminalClient | null>(null);
  const onEndedRef = useRef(onEnded);
  onEndedRef.current = onEnded;
  const [state, setState] = useState<TerminalConnectionState>("connecting");
  const [writer, setWriter] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [ending, setEnding] = useState<TerminalEnding | null>(null);
  const [hasSelection, setHasSelection] = useState(false);
  const helpId = useId();
  const mode = canWrite ? "write" : "read";

  // Only another session or mode means another terminal: the session's size only seeds xterm.
  useEffect(() => {
    const host = hostRef.current;
    if (!host) return;
    const terminal = new Terminal({
      cursorBlink: true,
      fontFamily: FONT,
      fontSize: 14,
      scrollback: 5_000,
      theme: THEME,
      disableStdin: true,
      cols: session.cols,
      rows: session.rows,
    });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    const restoreStyles = openWithConstructedStyles(document, host, () => terminal.open(host));
    terminalRef.current = terminal;
    // The focusable part is xterm's input: tell it how copy, paste and leaving work.
    terminal.textarea?.setAttribute("aria-describedby", helpId);

    const client = createTerminalClient({
      getTicket: () => createTerminalTicket(session.id, mode),
      openSocket: (url) => new WebSocket(socketUrl(url)) as unknown as SocketLike,
      screen: {
        // RIS through the write queue: output still queued from the old socket cannot land after it.
        reset: () => terminal.write("\x1bc"),
        write: (bytes) => terminal.write(bytes),
      },
      onState: setState,
      onWriter: (value) => {
        terminal.options.disableStdin = !value;
        setWriter(value);
      },
      onNotice: setNotice,
      onEnded: (value) => {
        setEnding(value);
        onEndedRef.current(value);
      },
      isFinalError: isFinalTicketError,
    });
    clientRef.current = client;

    const subscriptions = [
      terminal.onData((data) => client.input(data)),
      terminal.onBinary((data) => client.input(binaryString(data))),
      terminal.onResize(({ cols, rows }) => client.resize(cols, rows)),
      terminal.onSelectionChange(() => setHasSelection(terminal.hasSelection())),
    ];
    terminal.attachCustomKeyEventHandler((event) => {
      if (event.type !== "keydown") return true;
      const modifier = isMac() ? event.metaKey : event.ctrlKey;
      const key = event.key.toLowerCase();
      if (modifier && event.shiftKey && key === "c") {
        event.preventDefault();
        if (terminal.hasSelection()) void navigator.clipboard?.writeText(terminal.getSelection());
        return false;
      }
      // Leave the key to the browser: its paste lands in xterm's input and becomes input.
      if (modifier && event.shiftKey && key === "v") return false;
      if (event.ctrlKey && event.shiftKey && key === "e") {
        event.preventDefault();
        toolbarRef.current?.querySelector<HTMLElement>("button:not(:disabled)")?.focus();
        return false;
      }
      return true;
    });

    const refit = () => {
      // Zero-sized while hidden (narrow layouts, collapsed panels): nothing to fit then.
      if (host.clientWidth > 0 && host.clientHeight > 0) fit.fit();
    };
    const observer = new ResizeObserver(refit);
    observer.observe(host);
    refit();
    client.resize(terminal.cols, terminal.rows);
    client.start();
    // Coming back online is a good moment to attach again instead of waiting out the backoff.
    const wake = () => client.wake();
    window.addEventListener("online", wake);

    return () => {
      window.removeEventListener("online", wake);
      observer.disconnect();
      client.stop();
      for (const subscription of subscriptions) subscription.dispose();
      terminal.dispose();
      restoreStyles();
      terminalRef.current = null;
      clientRef.current = null;
    };
  }, [session.id, mode, helpId]);

  const copy = () => {
    const terminal = terminalRef.current;
    if (!terminal?.hasSelection()) return;
    navigator.clipboard?.writeText(terminal.getSelection()).then(
      () => setNotice("Copied the selection."),
      () => setNotice("The browser refused the clipboard; press Ctrl+Shift+C in the terminal instead."),
    );
  };
  const paste = () => {
    const terminal = terminalRef.current;
    if (!terminal) return;
    const read = navigator.clipboard?.readText?.();
    if (!read) {
      setNotice("This browser does not let the page read the clipboard; press Ctrl+Shift+V in the terminal.");
      return;
    }
    read.then(
      (text) => {
        terminal.paste(text);
        terminal.focus();
      },
      () => setNotice("The browser refused the clipboard; press Ctrl+Shift+V in the terminal instead."),
    );
  };

  const ended = state === "ended";
  return (
    <section className="terminal-panel" aria-label={label}>
      <div className="terminal-toolbar" ref={toolbarRef}>
        <span
          className={`badge ${state === "open" ? "badge-ready" : ended ? "badge-neutral" : "badge-busy"}`}
          role="status"
          aria-label={`Terminal connection: ${stateText[state]}`}
        >
          {stateText[state]}
        </span>
        {state === "reconnecting" ? (
          <button
            type="button"
            className="button button-small button-secondary"
            onClick={() => clientRef.current?.wake()}
          >
            Reconnect now
          </button>
        ) : null}
        <button
          type="button"
          className="button button-small button-secondary"
          disabled={!hasSelection}
          onClick={copy}
        >
          Copy selection
        </button>
        {canWrite ? (
          <button
            type="button"
            className="button button-small button-secondary"
            disabled={!writer || ended}
            onClick={paste}
          >
            Paste
          </button>
        ) : null}
        {onClose && !ended ? (
          <button
            type="button"
            className="button button-small button-danger"
            disabled={closing}
            onClick={onClose}
          >
            {closing ? "Closing…" : "Close session"}
          </button>
        ) : null}
      </div>
      {!canWrite ? (
        <p className="alert alert-info" role="note">
          Read-only: only the person who opened this session can type in it. You see what happens live.
        </p>
      ) : state === "open" && !writer ? (
        <p className="alert alert-info" role="note">
          Read-only here: this session is being typed in from another window of yours.
        </p>
      ) : null}
      {ended && ending ? (
        <p className="alert alert-info" role="alert">
          {ending.error
            ? `The terminal cannot be attached: ${describeError(ending.error)}`
            : describeEnding({ exitCode: ending.exitCode ?? null, closeReason: ending.reason })}
        </p>
      ) : null}
      {notice ? (
        <p className="muted small" aria-live="polite">
          {notice}
        </p>
      ) : null}
      <div
        ref={hostRef}
        className={`terminal-host${state === "open" ? "" : " is-stale"}`}
        data-terminal-state={state}
      />
      <p className="small muted" id={helpId}>
        Click the screen or tab into it to type. Ctrl+Shift+C copies the selection, Ctrl+Shift+V pastes (⌘ on
        a Mac), Ctrl+Shift+E leaves the terminal.
      </p>
    </section>
  );
}
