import type { ReactNode } from "react";

/**
 * A secret the server shows only once (an API key, an invite link, a robot credential):
 * what it is and how to use it, its copy fields, and a Done button that dismisses it.
 */
export function ShownOnce({
  label,
  children,
  onDone,
}: {
  /** The section's accessible name, e.g. "API key created". */
  label: string;
  /** The explanation paragraph followed by the CopyFields. */
  children: ReactNode;
  onDone: () => void;
}) {
  return (
    <section className="card secret" aria-label={label}>
      {children}
      <button type="button" className="button button-ghost" onClick={onDone}>
        Done
      </button>
    </section>
  );
}
