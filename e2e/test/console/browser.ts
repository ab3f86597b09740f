import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import AxeBuilder from "@axe-core/playwright";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** Screenshots of the main screens, kept by the run for people to look at. */
export const screenshotDir = join(root, "test-results", "console");

// Debian's Chromium (installed by scripts/lib/setup.sh); a test tool never downloads its own.
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (scripts/lib/setup.sh does)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** What went wrong inside the page: uncaught errors, console errors and CSP reports. */
export type PageProblems = { errors: string[] };

/**
 * A fresh browser context (its own cookies) and page. Every uncaught exception and
 * console error is collected so a test can assert the console ran cleanly.
 */
export async function openPage(
  browser: Browser,
  options: { baseURL: string; colorScheme?: "light" | "dark"; viewport?: { width: number; height: number } },
): Promise<{ context: BrowserContext; page: Page; problems: PageProblems }> {
  const context = await browser.newContext({
    baseURL: options.baseURL,
    colorScheme: options.colorScheme ?? "light",
    viewport: options.viewport ?? { width: 1280, height: 800 },
  });
  const page = await context.newPage();
  const problems: PageProblems = { errors: [] };
  page.on("pageerror", (error) => problems.errors.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    // A refused request (401 before sign-in, 412 on an edit conflict) is the API speaking,
    // which the screens handle; the browser logs it as an error all the same.
    if (message.type() !== "error" || message.text().startsWith("Failed to load resource")) return;
    problems.errors.push(`console: ${message.text()}`);
  });
  return { context, page, problems };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** axe-core's serious and critical findings (WCAG 2 A/AA) on the page as it is now. */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa"]).analyze();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}
