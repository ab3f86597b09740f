export type ThemePreference = "system" | "light" | "dark";

const STORAGE_KEY = "perseus.theme";
const order: ThemePreference[] = ["system", "light", "dark"];

export function readThemePreference(): ThemePreference {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    return order.includes(stored as ThemePreference) ? (stored as ThemePreference) : "system";
  } catch {
    return "system"; // storage blocked (privacy mode): follow the system
  }
}

/** Applies a preference: `system` leaves the choice to `prefers-color-scheme` in the stylesheet. */
export function applyThemePreference(preference: ThemePreference) {
  const root = document.documentElement;
  if (preference === "system") delete root.dataset.theme;
  else root.dataset.theme = preference;
  try {
    localStorage.setItem(STORAGE_KEY, preference);
  } catch {
    // not persisted; still applied for this page
  }
}

export function nextThemePreference(current: ThemePreference): ThemePreference {
  return order[(order.indexOf(current) + 1) % order.length] ?? "system";
}
