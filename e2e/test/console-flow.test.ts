import { randomBytes } from "node:crypto";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import {
  launchBrowser,
  openPage,
  type PageProblems,
  screenshot,
  seriousA11yViolations,
} from "./console/browser.js";
import { type Platform, startPlatform } from "./platform.js";

/**
 * The console end to end, as a person uses it in Chromium against the real platform:
 * sign up → team and chatgroup → robot with its credential → a real nanobot → `@robot`
 * a task and watch the reply stream in → upload a file → the robot reads it → the audit
 * log shows it all. Each main screen is screenshotted and checked with axe.
 */
let platform: Platform;
let browser: Browser;
let page: Page;
let problems: PageProblems;
const tag = randomBytes(3).toString("hex");
const robotHandle = `rob${tag}`;
const a11y: Record<string, string[]> = {};

async function nav(label: string) {
  await page.getByRole("navigation").getByRole("link", { name: label, exact: true }).first().click();
}

async function openLab() {
  await nav("Chat");
  await page
    .getByRole("navigation", { name: "Chatgroups" })
    .getByRole("link", { name: new RegExp(`lab-${tag}`) })
    .click();
}

/** Screenshot plus axe, collected per screen and asserted once at the end. */
async function capture(name: string) {
  await page.waitForLoadState("networkidle").catch(() => {});
  await screenshot(page, name);
  a11y[name] = await seriousA11yViolations(page);
}

beforeAll(async () => {
  [platform, browser] = await Promise.all([startPlatform(), launchBrowser()]);
  ({ page, problems } = await openPage(browser, { baseURL: platform.edgeUrl }));
  page.setDefaultTimeout(30_000);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await platform?.stop();
});

describe("the console, end to end in Chromium", () => {
  it("sign up, organise, connect a robot, ask it for work, share a file, audit it all", async () => {
    onTestFailed(async () => {
      await screenshot(page, "failure").catch(() => {});
      console.log("page problems:", problems.errors, "url:", page.url());
    });
    // Sign up: a new organisation and its owner.
    await page.goto("/sign-up");
    await page.getByLabel("Organisation name").fill(`Console ${tag}`);
    await page.getByLabel("Your name").fill("Olive Owner");
    await page.getByLabel("Handle").fill(`olive${tag}`);
    await page.getByLabel("Email").fill(`olive-${tag}@example.test`);
    await page.getByLabel("Password").fill("correct horse battery staple");
    await capture("01-sign-up");
    await page.getByRole("button", { name: "Create organisation" }).click();
    await expect
      .poll(() => page.getByRole("navigation").getByRole("link", { name: "Chat" }).count())
      .toBeGreaterThan(0);
    await capture("02-overview");

    // A team and a chatgroup in it.
    await nav("Teams & chatgroups");
    await page.getByLabel("New team name").fill(`Research ${tag}`);
    await page.getByRole("button", { name: "Create team" }).click();
    const teamForm = page.getByRole("form", { name: `New chatgroup in team Research ${tag}` });
    await teamForm.getByLabel("New chatgroup name").fill(`lab-${tag}`);
    await teamForm.getByRole("button").last().click();
    await expect.poll(() => page.getByText(`lab-${tag}`).count()).toBeGreaterThan(0);
    await capture("03-teams");

    // A robot: its credential is shown once, with the command that connects it.
    await nav("Robots");
    await page.getByLabel("Robot handle").fill(robotHandle);
    await page.getByLabel("Robot name").fill("Rob");
    await page.getByRole("button", { name: /create robot/i }).click();
    const credentialPanel = page.getByRole("region", { name: `New credential for @${robotHandle}` });
    const secret = await credentialPanel.getByLabel("Robot credential").inputValue();
    expect(secret.length).toBeGreaterThan(20);
    expect(await credentialPanel.getByLabel("Connect command").inputValue()).toContain(secret);
    await capture("04-robot-created");
    await credentialPanel.getByRole("button", { name: "Done" }).click();

    // Its central configuration: run tasks as shell commands.
    await page
      .getByRole("link", { name: new RegExp(robotHandle) })
      .first()
      .click();
    const config = page.getByRole("form", { name: `Configuration of @${robotHandle}` });
    await config.getByLabel("Executor").selectOption("shell");
    await config.getByRole("button", { name: /save/i }).click();
    await expect.poll(() => config.getByRole("button", { name: /save/i }).isEnabled()).toBe(true);
    await capture("05-robot-config");

    await platform.startNanobot(secret, robotHandle);
    await expect.poll(() => page.getByText(/online/i).count(), { timeout: 30_000 }).toBeGreaterThan(0);

    // The task: the reply streams into the chat.
    await openLab();
    const composer = page.getByRole("combobox", { name: `Message #lab-${tag}` });
    const marker = `hello-${tag}`;
    await composer.fill(`@${robotHandle} echo ${marker}`);
    await composer.press("Enter");
    const log = page.getByRole("log").or(page.locator("main"));
    await expect.poll(() => log.getByText(marker).count(), { timeout: 60_000 }).toBeGreaterThan(1);
    await expect
      .poll(() => page.getByRole("status", { name: /Task (done|succeeded)/i }).count(), { timeout: 60_000 })
      .toBeGreaterThan(0);
    await capture("06-chat-reply");

    // A file in the chatgroup's workspace, which the robot then reads with its task token.
    await nav("Workspace");
    const layer = page.getByLabel("Layer", { exact: true });
    const option = layer.locator("option", { hasText: `lab-${tag}` });
    await layer.selectOption((await option.getAttribute("value"))!);
    const content = `secret-plan-${tag}`;
    await page
      .getByLabel("Files to upload")
      .setInputFiles({ name: "plan.txt", mimeType: "text/plain", buffer: Buffer.from(content) });
    await expect
      .poll(() => page.getByRole("navigation", { name: "Files" }).getByText("plan.txt").count())
      .toBeGreaterThan(0);
    await capture("07-workspace");

    await openLab();
    await composer.fill(
      `@${robotHandle} curl -sf -H "authorization: Bearer $PERSEUS_TASK_TOKEN" "$PERSEUS_URL/api/workspace/views/chatgroup/$PERSEUS_CHATGROUP_ID/files?path=plan.txt"`,
    );
    await composer.press("Enter");
    await expect.poll(() => page.getByText(content).count(), { timeout: 60_000 }).toBeGreaterThan(0);
    await capture("08-robot-read-file");

    // The audit log holds every step, and its chain verifies.
    await nav("Audit log");
    for (const action of [
      "robot.created",
      "robot.config_changed",
      "robot.credential_created",
      "workspace.",
    ]) {
      await expect.poll(() => page.getByText(action).count()).toBeGreaterThan(0);
    }
    await page.getByRole("button", { name: /verify/i }).click();
    await expect.poll(() => page.getByText(/intact|verified/i).count()).toBeGreaterThan(0);
    await capture("09-audit");

    // The same screens, in the dark theme and on a narrow screen.
    await page.emulateMedia({ colorScheme: "dark" });
    await page.setViewportSize({ width: 390, height: 844 });
    await nav("Chat").catch(async () => {
      await page.getByRole("button", { name: /menu/i }).click();
      await nav("Chat");
    });
    await capture("10-chat-dark-narrow");

    expect(a11y).toEqual(Object.fromEntries(Object.keys(a11y).map((name) => [name, []])));
    expect(problems.errors).toEqual([]);
  }, 300_000);
});
