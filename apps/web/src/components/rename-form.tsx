import { type FormEvent, useId, useState } from "react";
import { ErrorMessage } from "./error-message.js";

type Props = {
  /** What is renamed, for labels ("team General"). */
  subject: string;
  current: string;
  onRename: (name: string) => Promise<unknown>;
};

/** An inline rename: a button that turns into a one-field form. */
export function RenameForm({ subject, current, onRename }: Props) {
  const id = useId();
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(current);
  const [error, setError] = useState<unknown>(null);
  const [pending, setPending] = useState(false);

  if (!editing) {
    return (
      <button
        type="button"
        className="button button-small button-ghost"
        aria-label={`Rename ${subject}`}
        onClick={() => {
          setName(current);
          setEditing(true);
        }}
      >
        Rename
      </button>
    );
  }
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setPending(true);
    setError(null);
    try {
      await onRename(name.trim());
      setEditing(false);
    } catch (failure) {
      setError(failure);
    } finally {
      setPending(false);
    }
  };
  return (
    <form className="inline-form" onSubmit={(event) => void submit(event)} aria-label={`Rename ${subject}`}>
      <label className="visually-hidden" htmlFor={id}>
        New name for {subject}
      </label>
      <input
        id={id}
        value={name}
        onChange={(event) => setName(event.target.value)}
        maxLength={100}
        required
      />
      <button type="submit" className="button button-small" disabled={pending || !name.trim()}>
        Save
      </button>
      <button type="button" className="button button-small button-ghost" onClick={() => setEditing(false)}>
        Cancel
      </button>
      <ErrorMessage error={error} />
    </form>
  );
}
