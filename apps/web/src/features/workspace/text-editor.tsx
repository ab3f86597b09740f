import { useId, useState } from "react";
import { describeError } from "../../api/errors.js";
import { type EditorState, edit, isDirty, resolve, type SaveIo, save, startEditing } from "./conflict.js";

type Props = {
  name: string;
  initial: { text: string; etag: string };
  io: SaveIo;
  onSaved: () => void;
  onClose: () => void;
};

/** Edits a text file with If-Match; on a conflict both versions are shown and the person chooses. */
export function TextEditor({ name, initial, io, onSaved, onClose }: Props) {
  const id = useId();
  const [state, setState] = useState<EditorState>(() => startEditing(initial));
  const busy = state.kind === "saving";

  async function onSave() {
    if (state.kind === "saving" || state.kind === "conflict") return;
    setState({ kind: "saving", base: state.base, draft: state.draft });
    const next = await save(state, io, describeError);
    setState(next);
    if (next.kind === "saved") onSaved();
  }

  if (state.kind === "conflict") {
    return (
      <section className="conflict" aria-label="Edit conflict">
        <p role="alert" className="alert alert-error">
          Someone saved {name} while you were editing. Nothing was overwritten: compare both versions and
          choose.
        </p>
        <div className="conflict-columns">
          <div className="field">
            <label htmlFor={`${id}-mine`}>Your version (you can still edit it)</label>
            <textarea
              id={`${id}-mine`}
              className="editor-text"
              value={state.draft}
              onChange={(event) => setState(edit(state, event.target.value))}
            />
          </div>
          <div className="field">
            <label htmlFor={`${id}-theirs`}>Their version (now saved)</label>
            <textarea id={`${id}-theirs`} className="editor-text" value={state.theirs.text} readOnly />
          </div>
        </div>
        <div className="actions">
          <button type="button" className="button" onClick={() => setState(resolve(state, "mine"))}>
            Keep my version
          </button>
          <button
            type="button"
            className="button button-secondary"
            onClick={() => setState(resolve(state, "theirs"))}
          >
            Take their version
          </button>
        </div>
        <p className="muted small">
          “Keep my version” puts your text on top of theirs; it is saved when you press Save (and conflicts
          again if someone saves meanwhile).
        </p>
      </section>
    );
  }

  return (
    <section className="editor" aria-label={`Edit ${name}`}>
      <div className="field">
        <label htmlFor={`${id}-text`}>Content of {name}</label>
        <textarea
          id={`${id}-text`}
          className="editor-text"
          value={state.draft}
          disabled={busy}
          onChange={(event) => setState(edit(state, event.target.value))}
        />
      </div>
      <div className="actions">
        <button
          type="button"
          className="button"
          disabled={busy || !isDirty(state)}
          onClick={() => void onSave()}
        >
          {busy ? "Saving…" : "Save"}
        </button>
        <button type="button" className="button button-ghost" onClick={onClose}>
          {isDirty(state) ? "Discard changes" : "Close editor"}
        </button>
        <span role="status" className="small muted">
          {state.kind === "saved" ? "Saved." : isDirty(state) ? "Unsaved changes" : ""}
        </span>
      </div>
      {state.kind === "failed" ? (
        <p role="alert" className="field-error">
          Not saved: {state.error}
        </p>
      ) : null}
    </section>
  );
}
