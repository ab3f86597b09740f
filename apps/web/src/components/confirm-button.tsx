import { useState } from "react";

type Props = {
  /** The action, e.g. "Revoke"; `subject` names what it acts on, for the accessible name. */
  label: string;
  subject: string;
  onConfirm: () => void;
  pending?: boolean;
  danger?: boolean;
};

/** A destructive action in two steps (no browser dialog): click, then confirm or cancel. */
export function ConfirmButton({ label, subject, onConfirm, pending = false, danger = true }: Props) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button
        type="button"
        className={`button button-small ${danger ? "button-danger" : "button-secondary"}`}
        aria-label={`${label} ${subject}`}
        disabled={pending}
        onClick={() => setAsking(true)}
      >
        {pending ? `${label}…` : label}
      </button>
    );
  }
  return (
    <fieldset className="confirm" aria-label={`Confirm: ${label.toLowerCase()} ${subject}`}>
      <button
        type="button"
        className="button button-small button-danger"
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        Yes, {label.toLowerCase()}
      </button>
      <button type="button" className="button button-small button-ghost" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </fieldset>
  );
}
