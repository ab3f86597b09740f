import { useState } from "react";
import {
  applyThemePreference,
  nextThemePreference,
  readThemePreference,
  type ThemePreference,
} from "./theme.js";

const labels: Record<ThemePreference, string> = {
  system: "System theme",
  light: "Light theme",
  dark: "Dark theme",
};
const icons: Record<ThemePreference, string> = { system: "◐", light: "☀", dark: "☾" };

/** Cycles system → light → dark; the button names the current choice for screen readers. */
export function ThemeToggle() {
  const [preference, setPreference] = useState<ThemePreference>(readThemePreference);
  const next = nextThemePreference(preference);
  return (
    <button
      type="button"
      className="button button-ghost"
      aria-label={`${labels[preference]} (switch to ${labels[next].toLowerCase()})`}
      title={`${labels[preference]}: click for ${labels[next].toLowerCase()}`}
      onClick={() => {
        applyThemePreference(next);
        setPreference(next);
      }}
    >
      <span aria-hidden="true">{icons[preference]}</span>
    </button>
  );
}
