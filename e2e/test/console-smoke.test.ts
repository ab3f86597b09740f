import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, openPage, screenshot, seriousA11yViolations } from "./console/browser.js";
import { type Platform, startPlatform } from "./platform.js";

let platform: Platform;
let browser: Browser;

beforeAll(async () => {
  [platform, browser] = await Promise.all([startPlatform(), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await platform?.stop();
});

describe("the console as served by the edge", () => {
  it("serves the sign-in screen under a strict CSP, runs without errors and passes axe", async () => {
    const { context, page, problems } = await openPage(browser, { baseURL: platform.edgeUrl });
    const response = await page.goto("/");
    const csp = response?.headers()["content-security-policy"] ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");

    // Not signed in: any console route lands on a form that asks for email and password.
    await expect.poll(() => page.getByLabel(/email/i).count()).toBeGreaterThan(0);
    await screenshot(page, "00-sign-in");
    expect(await seriousA11yViolations(page)).toEqual([]);
    expect(problems.errors).toEqual([]);
    await context.close();
  });
});
