import { useId, useState } from "react";

/** A secret or link shown once, with a copy button; the text stays selectable as a fallback. */
export function CopyField({
  label,
  value,
  multiline = false,
}: {
  label: string;
  value: string;
  multiline?: boolean;
}) {
  const id = useId();
  const [copied, setCopied] = useState<"idle" | "copied" | "failed">("idle");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied("copied");
    } catch {
      setCopied("failed");
    }
  };
  return (
    <div className="field copy-field">
      <label htmlFor={id}>{label}</label>
      <div className="copy-row">
        {multiline ? (
          <textarea id={id} readOnly value={value} rows={3} onFocus={(event) => event.target.select()} />
        ) : (
          <input id={id} readOnly value={value} onFocus={(event) => event.target.select()} />
        )}
        <button type="button" className="button button-secondary" onClick={() => void copy()}>
          Copy<span className="visually-hidden"> {label.toLowerCase()}</span>
        </button>
      </div>
      <p className="small muted" aria-live="polite">
        {copied === "copied"
          ? "Copied to the clipboard."
          : copied === "failed"
            ? "Copy failed: select the text and copy it."
            : ""}
      </p>
    </div>
  );
}
