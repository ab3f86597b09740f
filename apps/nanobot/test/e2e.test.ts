import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ManagedProcess } from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPidAlive, tempDir } from "./helper.js";
import { type Platform, startNanobot, startPlatform } from "./platform.js";

let platform: Platform;
const tmp = tempDir();
const running: ManagedProcess[] = [];

beforeAll(async () => {
  platform = await startPlatform();
}, 120_000);
afterAll(async () => {
  for (const process_ of running) await process_.stop().catch(() => {});
  await platform?.close();
  tmp.cleanup();
}, 60_000);

async function waitForTask(
  taskId: string,
  done: (task: Awaited<ReturnType<Platform["getTask"]>>) => boolean,
  timeoutMs = 30_000,
) {
  const deadline = Date.now() + timeoutMs;
  let task = await platform.getTask(taskId);
  while (!done(task) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 150));
    task = await platform.getTask(taskId);
  }
  expect(done(task), `task ${taskId} is ${task.status}: ${JSON.stringify(task.attempts)}`).toBe(true);
  return task;
}

const outboxLines = (dataDir: string) => {
  const path = join(dataDir, "outbox.jsonl");
  return existsSync(path) ? readFileSync(path, "utf8").trim().split("\n").filter(Boolean) : [];
};

describe("nanobot against the real dispatch gateway", () => {
  it("connects, accepts an offer, runs echo with the shell executor and completes", async () => {
    const robot = await platform.createRobot();
    const dataDir = join(tmp.dir, "basic");
    const bot = await startNanobot(platform, robot, { dataDir });
    running.push(bot);
    const task = await platform.createTask(robot.robotId, "echo hello-from-nanobot");
    const done = await waitForTask(task.id, (t) => t.status === "succeeded");
    expect(done.result).toBe("hello-from-nanobot\n");
    expect(done.progress.map((p) => [p.kind, p.data])).toContainEqual(["stdout", "hello-from-nanobot\n"]);
    expect(await platform.effects(task.id)).toHaveLength(1);
    await expect
      .poll(() => bot.output(), { timeout: 5_000 })
      .toMatch(/result acknowledged .*duplicate=false status=succeeded/);
    expect(outboxLines(dataDir)).toEqual([]);

    // Graceful stop: exit 0 with a normal close.
    const status = await bot.stop(10_000);
    expect(status.code).toBe(0);
    expect(bot.output()).toMatch(/shutting down: no new offers/);
  }, 60_000);

  it("replays a result after being killed between complete-sent and ack: the task has exactly one result", async () => {
    const robot = await platform.createRobot();
    const dataDir = join(tmp.dir, "crash-after-send");
    const bot = await startNanobot(platform, robot, {
      dataDir,
      env: { PERSEUS_NANOBOT_CRASH_AT: "result-sent" },
    });
    running.push(bot);
    const task = await platform.createTask(robot.robotId, "echo exactly-once");
    const exit = await bot.waitForExit();
    expect(exit.signal).toBe("SIGKILL");
    expect(outboxLines(dataDir)).toHaveLength(1); // written before sending, never acknowledged

    const restarted = await startNanobot(platform, robot, { dataDir });
    running.push(restarted);
    await expect
      .poll(() => restarted.output(), { timeout: 10_000 })
      .toMatch(/result acknowledged .*duplicate=true/);
    const done = await waitForTask(task.id, (t) => t.status === "succeeded");
    expect(done.result).toBe("exactly-once\n");
    expect(await platform.effects(task.id)).toHaveLength(1);
    expect(done.attempts).toHaveLength(1);
    expect(outboxLines(dataDir)).toEqual([]);
    await restarted.stop();
  }, 60_000);

  it("replays a result written but never sent, within the resumed lease", async () => {
    const robot = await platform.createRobot();
    const dataDir = join(tmp.dir, "crash-after-write");
    const bot = await startNanobot(platform, robot, {
      dataDir,
      env: { PERSEUS_NANOBOT_CRASH_AT: "result-written" },
    });
    running.push(bot);
    const task = await platform.createTask(robot.robotId, "echo written-not-sent");
    expect((await bot.waitForExit()).signal).toBe("SIGKILL");
    expect((await platform.getTask(task.id)).status).toBe("running");

    const restarted = await startNanobot(platform, robot, { dataDir });
    running.push(restarted);
    await expect
      .poll(() => restarted.output(), { timeout: 10_000 })
      .toMatch(/result acknowledged .*duplicate=false/);
    const done = await waitForTask(task.id, (t) => t.status === "succeeded");
    expect(done.result).toBe("written-not-sent\n");
    expect(await platform.effects(task.id)).toHaveLength(1);
    expect(done.attempts).toHaveLength(1);
    await restarted.stop();
  }, 60_000);

  it("stops the work on cancel (kills the process group) and answers cancelled", async () => {
    const robot = await platform.createRobot();
    const bot = await startNanobot(platform, robot, { dataDir: join(tmp.dir, "cancel") });
    running.push(bot);
    const task = await platform.createTask(robot.robotId, "sleep 60 & echo $!; wait");
    const started = await waitForTask(task.id, (t) => t.status === "running" && t.progress.length > 0);
    const pid = Number(started.progress[0]!.data.trim());
    expect(isPidAlive(pid)).toBe(true);
    await platform.cancelTask(task.id, started.version);
    await waitForTask(task.id, (t) => t.status === "cancelled");
    await expect.poll(() => isPidAlive(pid), { timeout: 5_000 }).toBe(false);
    await bot.stop();
  }, 60_000);

  it("on SIGTERM releases unfinished work after the grace period and exits 0", async () => {
    const robot = await platform.createRobot();
    const bot = await startNanobot(platform, robot, {
      dataDir: join(tmp.dir, "release"),
      args: ["--grace-ms", "300"],
    });
    running.push(bot);
    const task = await platform.createTask(robot.robotId, "sleep 60 & echo $!; wait");
    const started = await waitForTask(task.id, (t) => t.status === "running" && t.progress.length > 0);
    const pid = Number(started.progress[0]!.data.trim());
    const status = await bot.stop(15_000);
    expect(status.code).toBe(0);
    const released = await waitForTask(task.id, (t) => t.status === "queued");
    expect(released.attempts[0]?.outcome).toBe("released");
    expect(isPidAlive(pid)).toBe(false);
  }, 60_000);

  it("works over the long-poll fallback too", async () => {
    const robot = await platform.createRobot();
    const bot = await startNanobot(platform, robot, {
      dataDir: join(tmp.dir, "poll"),
      args: ["--transport", "poll"],
    });
    running.push(bot);
    expect(bot.output()).toMatch(/connected transport=poll/);
    const task = await platform.createTask(robot.robotId, "echo over-long-poll");
    const done = await waitForTask(task.id, (t) => t.status === "succeeded");
    expect(done.result).toBe("over-long-poll\n");
    await bot.stop();
  }, 60_000);
});

describe("reconnect and resume", () => {
  it("survives a gateway restart: reconnects with backoff, resumes the lease and completes in the same attempt", async () => {
    const robot = await platform.createRobot();
    const bot = await startNanobot(platform, robot, { dataDir: join(tmp.dir, "restart") });
    running.push(bot);
    const task = await platform.createTask(robot.robotId, "echo started; sleep 6; echo survived");
    await waitForTask(task.id, (t) => t.status === "running" && t.progress.length > 0);
    await platform.dispatch.restart(); // SIGTERM: robots get 1012, then the process comes back
    const done = await waitForTask(task.id, (t) => t.status === "succeeded", 30_000);
    expect(done.result).toBe("started\nsurvived\n");
    expect(done.attempts, `${JSON.stringify(done.attempts)}\n${bot.output()}`).toHaveLength(1);
    expect(bot.output()).toMatch(/disconnected code=1012/);
    expect(bot.output().match(/INFO\s+connected/g)?.length).toBeGreaterThanOrEqual(2);
    await bot.stop();
  }, 60_000);
});
