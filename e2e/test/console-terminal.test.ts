import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ManagedProcess, startProcess } from "@perseus/testing";
import type { Browser, Page, WebSocketRoute } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import WebSocket from "ws";
import {
  launchBrowser,
  openPage,
  type PageProblems,
  screenshot,
  seriousA11yViolations,
} from "./console/browser.js";
import { type Platform, startPlatform } from "./platform.js";

/**
 * The live terminal end to end, in Chromium against the real platform and a real nanobot
 * with a pty: an owner opens a terminal from the robot's page, runs a command, loses the
 * browser's socket, gets the screen back from the snapshot and types on; a member sees no
 * terminal and the API refuses one.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const tag = randomBytes(3).toString("hex");
const robotHandle = `term${tag}`;
const password = "correct horse battery staple";
const owner = { email: `tess-${tag}@example.test`, name: "Tess Owner", handle: `tess${tag}` };
const member = { email: `uma-${tag}@example.test`, name: "Uma User", handle: `uma${tag}` };
const ATTACH = /\/api\/dispatch\/terminals\/[^/?]+\/attach/;

let platform: Platform;
let browser: Browser;
let page: Page;
let problems: PageProblems;
let nanobot: ManagedProcess | undefined;
const workDir = mkdtempSync(join(tmpdir(), "perseus-terminal-e2e-"));
const a11y: Record<string, string[]> = {};

// The browser's terminal sockets pass through this route, so the test can cut them like a
// network would (the page sees its socket close) and hold off new ones for a while.
let holdAttach = false;
const liveRoutes: { page: WebSocketRoute; server: WebSocketRoute }[] = [];

async function api<T>(method: string, path: string, token: string | null, body?: unknown) {
  const response = await fetch(`${platform.edgeUrl}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
}

/** What xterm shows, row by row (its DOM renderer's rows, as a person sees them). */
async function screenRows(): Promise<string[]> {
  const rows = await page.locator(".terminal-host .xterm-rows > div").allInnerTexts();
  return rows.map((row) => row.replaceAll("\u00a0", " ").trimEnd());
}

async function connectionState(): Promise<string | null> {
  return page.locator(".terminal-host").getAttribute("data-terminal-state");
}

async function typeInTerminal(text: string) {
  await page.locator(".terminal-host .xterm-screen").click();
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
}

/** Output as lines of text, without the control sequences a shell mixes in (e.g. bracketed paste). */
const CONTROL_SEQUENCE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, "g");
function plainLines(text: string): string[] {
  return text
    .replaceAll(CONTROL_SEQUENCE, "")
    .split(/\r?\n/)
    .map((line) => line.replaceAll("\r", "").trimEnd());
}

/** A second viewer from outside the browser: the platform's own attach socket, with a ticket. */
async function attachFromNode(terminalId: string, token: string, mode: "write" | "read") {
  const ticket = await api<{ ticket: string; url: string }>(
    "POST",
    `/api/dispatch/terminals/${terminalId}/tickets`,
    token,
    { mode },
  );
  expect(ticket.status).toBe(201);
  const url = `${platform.edgeUrl.replace(/^http/, "ws")}${ticket.body.url}?ticket=${encodeURIComponent(ticket.body.ticket)}`;
  const socket = new WebSocket(url);
  const seen = { text: "", writer: false, types: [] as string[] };
  socket.on("message", (raw) => {
    const frame = JSON.parse(String(raw)) as { type: string; data?: string; writer?: boolean };
    seen.types.push(frame.type);
    if (frame.type === "snapshot" || frame.type === "output")
      seen.text += Buffer.from(frame.data ?? "", "base64").toString("utf8");
    if (frame.type === "role") seen.writer = frame.writer === true;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  return {
    seen,
    type: (text: string) =>
      socket.send(JSON.stringify({ type: "input", data: Buffer.from(text).toString("base64") })),
    close: () =>
      new Promise<void>((resolve) => {
        socket.once("close", () => resolve());
        socket.close(1000);
      }),
  };
}

async function capture(name: string) {
  await screenshot(page, name);
  a11y[name] = await seriousA11yViolations(page);
}

beforeAll(async () => {
  [platform, browser] = await Promise.all([startPlatform(), launchBrowser()]);
  ({ page, problems } = await openPage(browser, { baseURL: platform.edgeUrl }));
  page.setDefaultTimeout(30_000);
  await page.routeWebSocket(ATTACH, (route) => {
    if (holdAttach) {
      void route.close({ code: 4000, reason: "network down" });
      return;
    }
    liveRoutes.push({ page: route, server: route.connectToServer() });
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await nanobot?.stop().catch(() => {});
  await platform?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

describe("the live terminal in the console", () => {
  it("opens from the robot, runs a command, survives a dropped socket, and is refused to members", async () => {
    onTestFailed(async () => {
      await screenshot(page, "terminal-failure").catch(() => {});
      console.log("page problems:", problems.errors, "url:", page.url());
      console.log("nanobot output:", nanobot?.output().slice(-4000));
    });

    // The owner's organisation (through the API), then sign in as a person does.
    const signup = await api<{ accessToken: string; chatgroupId: string }>("POST", "/api/auth/signup", null, {
      ...owner,
      password,
      tenantName: `Terminals ${tag}`,
    });
    expect(signup.status).toBe(201);
    const ownerToken = signup.body.accessToken;
    await page.goto("/sign-in");
    await page.getByLabel("Email").fill(owner.email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect
      .poll(() => page.getByRole("navigation").getByRole("link", { name: "Robots" }).count())
      .toBeGreaterThan(0);

    // A robot that declares the terminal capability; its credential is shown once.
    await page.getByRole("navigation").getByRole("link", { name: "Robots", exact: true }).first().click();
    await page.getByLabel("Robot handle").fill(robotHandle);
    await page.getByLabel("Robot name").fill("Terminal robot");
    await page.getByRole("checkbox", { name: "terminal" }).check();
    await page.getByRole("button", { name: /create robot/i }).click();
    const credentialPanel = page.getByRole("region", { name: `New credential for @${robotHandle}` });
    const secret = await credentialPanel.getByLabel("Robot credential").inputValue();
    await credentialPanel.getByRole("button", { name: "Done" }).click();
    await page
      .getByRole("link", { name: `@${robotHandle}` })
      .first()
      .click();
    await expect.poll(() => page.getByRole("heading", { name: new RegExp(robotHandle) }).count()).toBe(1);
    const robotUrl = page.url();

    // Offline, the refusal says why and what to do.
    const terminalCard = page.getByRole("article", { name: "Terminal", exact: true });
    await terminalCard.getByRole("button", { name: "Open terminal" }).click();
    await expect
      .poll(() => terminalCard.getByRole("alert").textContent(), { timeout: 30_000 })
      .toMatch(/offline/i);

    // A nanobot whose local config turns terminals on (with a plain shell).
    const configPath = join(workDir, "nanobot.json");
    writeFileSync(
      configPath,
      JSON.stringify({
        terminal: { enabled: true, shell: "/bin/bash", args: ["--norc", "--noprofile"], cwd: workDir },
      }),
    );
    nanobot = await startProcess({
      name: "nanobot-terminal",
      command: process.execPath,
      args: [
        join(root, "apps", "nanobot", "dist", "cli.js"),
        "connect",
        "--url",
        platform.edgeUrl,
        "--credential",
        secret,
        "--config",
        configPath,
        "--data-dir",
        join(workDir, "nanobot"),
      ],
      cwd: join(root, "apps", "nanobot"),
      env: {},
      ready: { line: /connected/i },
      readyTimeoutMs: 60_000,
    });
    await expect.poll(() => page.getByText(/online/i).count(), { timeout: 30_000 }).toBeGreaterThan(0);

    // Open it from the robot: the panel attaches, and the owner (its opener) may type.
    await terminalCard.getByRole("button", { name: "Open terminal" }).click();
    await page.waitForURL(/\/terminals\/[0-9a-f-]{36}$/);
    const terminalId = page.url().split("/").at(-1) ?? "";
    await expect.poll(connectionState, { timeout: 30_000 }).toBe("open");
    await expect.poll(() => page.getByRole("button", { name: "Paste" }).isEnabled()).toBe(true);
    await typeInTerminal("echo $((6*7))");
    await expect.poll(screenRows, { timeout: 30_000 }).toContain("42");
    await capture("terminal-01-open");

    // The browser's socket drops and stays down: the panel says it is reconnecting.
    holdAttach = true;
    for (const route of liveRoutes.splice(0)) {
      await route.page.close({ code: 4000, reason: "network down" });
      await route.server.close();
    }
    await expect.poll(connectionState).toBe("reconnecting");
    await expect.poll(() => page.getByRole("status", { name: /Reconnecting/ }).count()).toBe(1);

    // Meanwhile the shell goes on: output the browser cannot have received live.
    const elsewhere = await attachFromNode(terminalId, ownerToken, "write");
    await expect.poll(() => elsewhere.seen.writer, { timeout: 30_000 }).toBe(true);
    elsewhere.type("echo $((1000+337))\r");
    await expect.poll(() => plainLines(elsewhere.seen.text), { timeout: 30_000 }).toContain("1337");
    await elsewhere.close();
    expect(await screenRows()).not.toContain("1337");

    // The network is back: a new ticket, a new socket, the screen restored from the snapshot.
    holdAttach = false;
    await expect.poll(connectionState, { timeout: 60_000 }).toBe("open");
    await expect.poll(screenRows, { timeout: 30_000 }).toEqual(expect.arrayContaining(["42", "1337"]));
    // Repainted after a reset, not appended to the stale screen.
    expect((await screenRows()).filter((row) => row === "42")).toHaveLength(1);
    await expect.poll(() => page.getByRole("button", { name: "Paste" }).isEnabled()).toBe(true);
    await typeInTerminal("echo $((6*9))");
    await expect.poll(screenRows, { timeout: 30_000 }).toContain("54");
    await capture("terminal-02-reconnected");

    // Dark theme, narrow screen: still readable and labelled.
    await page.emulateMedia({ colorScheme: "dark" });
    await page.setViewportSize({ width: 390, height: 844 });
    await expect.poll(screenRows).toContain("54");
    await capture("terminal-03-dark-narrow");
    await page.emulateMedia({ colorScheme: "light" });
    await page.setViewportSize({ width: 1280, height: 800 });

    // The robot's page lists the session; a member of the organisation sees no terminal at all.
    await page.goto(robotUrl);
    await expect.poll(() => terminalCard.getByRole("link", { name: /Attach/ }).count()).toBe(1);

    const invite = await api<{ token: string }>("POST", "/api/auth/invites", ownerToken, { role: "user" });
    expect(invite.status).toBe(201);
    const joined = await api<{ accessToken: string }>("POST", "/api/auth/invites/accept-signup", null, {
      token: invite.body.token,
      ...member,
      password,
    });
    expect(joined.status).toBe(201);
    const robotId = robotUrl.split("/").at(-1);
    const refused = await api<{ code: string }>("POST", "/api/dispatch/terminals", joined.body.accessToken, {
      robotId,
      cols: 80,
      rows: 24,
    });
    expect(refused.status).toBe(403);
    const peek = await api<{ code: string }>(
      "POST",
      `/api/dispatch/terminals/${terminalId}/tickets`,
      joined.body.accessToken,
      { mode: "read" },
    );
    expect(peek.status).toBe(403);

    const asMember = await openPage(browser, { baseURL: platform.edgeUrl });
    try {
      const memberPage = asMember.page;
      memberPage.setDefaultTimeout(30_000);
      await memberPage.goto("/sign-in");
      await memberPage.getByLabel("Email").fill(member.email);
      await memberPage.getByLabel("Password").fill(password);
      await memberPage.getByRole("button", { name: "Sign in" }).click();
      await memberPage.waitForURL((url) => !url.pathname.startsWith("/sign-in"));
      await memberPage.goto(new URL(robotUrl).pathname);
      await expect
        .poll(() => memberPage.getByRole("heading", { name: new RegExp(robotHandle) }).count())
        .toBe(1);
      expect(await memberPage.getByRole("button", { name: /open terminal/i }).count()).toBe(0);
      expect(await memberPage.getByRole("article", { name: "Terminal", exact: true }).count()).toBe(0);
      expect(asMember.problems.errors).toEqual([]);
    } finally {
      await asMember.context.close();
    }

    // From a task: a terminal on the task's robot, tied to the task and its chatgroup.
    const task = await api<{ id: string }>("POST", "/api/dispatch/tasks", ownerToken, {
      robotId,
      prompt: "look around",
      chatgroupId: signup.body.chatgroupId,
    });
    expect(task.status).toBe(201);
    await page.goto(`/tasks/${task.body.id}`);
    await page.getByRole("button", { name: "Open terminal" }).click();
    await page.waitForURL(
      (url) => /^\/terminals\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.endsWith(terminalId),
    );
    const taskTerminalId = new URL(page.url()).pathname.split("/").at(-1) ?? "";
    const taskTerminal = await api<{ taskId: string; chatgroupId: string }>(
      "GET",
      `/api/dispatch/terminals/${taskTerminalId}`,
      ownerToken,
    );
    expect(taskTerminal.body).toMatchObject({ taskId: task.body.id, chatgroupId: signup.body.chatgroupId });
    await expect.poll(connectionState, { timeout: 30_000 }).toBe("open");
    await page.getByRole("button", { name: "Close session" }).click();
    await expect.poll(connectionState, { timeout: 30_000 }).toBe("ended");

    // Closing the session from its panel shows how it ended.
    await page.goto(`/terminals/${terminalId}`);
    await expect.poll(connectionState, { timeout: 30_000 }).toBe("open");
    await page.getByRole("button", { name: "Close session" }).click();
    await expect
      .poll(
        () =>
          page
            .getByRole("alert")
            .filter({ hasText: /closed|ended|exited/i })
            .count(),
        {
          timeout: 30_000,
        },
      )
      .toBeGreaterThan(0);
    await expect.poll(connectionState).toBe("ended");
    await capture("terminal-04-ended");

    expect(a11y).toEqual(Object.fromEntries(Object.keys(a11y).map((name) => [name, []])));
    expect(problems.errors).toEqual([]);
  }, 300_000);
});
