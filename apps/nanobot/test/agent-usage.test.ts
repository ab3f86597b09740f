import { join } from "node:path";
import { startProcess } from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeModel, type Turn } from "./fake-model.js";
import { APP_DIR, CLI, NODE_ARGS, tempDir } from "./helper.js";
import { type Stack, startStack } from "./stack.js";
import { whenAvailable } from "./when-available.js";

let stack: Stack;
const tmp = tempDir();
beforeAll(async () => {
  stack = await startStack({ chatAndWorkspace: true });
}, 240_000);
afterAll(async () => {
  await stack?.close();
  tmp.cleanup();
}, 60_000);

const turn = (prompt: number, completion: number, rest: Omit<Turn, "usage">): Turn => ({
  ...rest,
  usage: { prompt, completion },
});

describe("usage and cost of an agent task, end to end", () => {
  it("reports tokens per model and the cost from the profiles' prices; the API and the chat reply show them", async () => {
    // The cheap model loops on one tool call (escalation on the third repeat); the strong one answers.
    const loop = { toolCalls: [{ name: "list_files", arguments: { path: "." } }] };
    const scripts: Record<string, Turn[]> = {
      "cheap-model": [turn(100, 7, loop), turn(120, 9, loop), turn(140, 11, loop)],
      "strong-model": [turn(300, 40, { text: "all done" })],
    };
    const sums = (model: string) =>
      scripts[model]!.reduce(
        (acc, t) => ({
          inputTokens: acc.inputTokens + t.usage!.prompt,
          outputTokens: acc.outputTokens + t.usage!.completion,
        }),
        { inputTokens: 0, outputTokens: 0 },
      );
    const cheap = sums("cheap-model");
    const strong = sums("strong-model");
    const model = await startFakeModel(structuredClone(scripts));
    const robot = await stack.createRobot();
    await whenAvailable(() =>
      stack.api("PUT", `/api/auth/robots/${robot.robotId}/config`, {
        settings: {
          executor: "agent",
          modelProfiles: [
            {
              name: "cheap",
              provider: "test",
              model: "cheap-model",
              baseUrl: model.url,
              inputUsdPerMTok: 0.5,
              outputUsdPerMTok: 1.5,
            },
            {
              name: "strong",
              provider: "test",
              model: "strong-model",
              baseUrl: model.url,
              inputUsdPerMTok: 3,
              outputUsdPerMTok: 15,
            },
          ],
          defaultModelProfile: "cheap",
        },
      }),
    );
    const bot = await startProcess({
      name: "nanobot",
      command: process.execPath,
      args: [...NODE_ARGS, CLI, "connect", "--data-dir", join(tmp.dir, "data")],
      cwd: APP_DIR,
      env: {
        PERSEUS_URL: stack.url,
        PERSEUS_ROBOT_CREDENTIAL: robot.credential,
        PERSEUS_ROBOT_TOKEN: undefined,
        XDG_CONFIG_HOME: tmp.dir,
      },
      ready: { line: /INFO\s+connected/ },
      readyTimeoutMs: 90_000,
    });
    try {
      const task = await whenAvailable(() =>
        stack.api("POST", "/api/dispatch/tasks", {
          robotHandle: robot.handle,
          prompt: "tidy up",
          chatgroupId: stack.chatgroupId,
        }),
      );
      let current: Record<string, unknown> = {};
      for (let i = 0; i < 200; i++) {
        current = await whenAvailable(() => stack.api("GET", `/api/dispatch/tasks/${task.id}`));
        if (["succeeded", "failed", "dead"].includes(current.status as string)) break;
        await new Promise((r) => setTimeout(r, 150));
      }
      expect(current.status, `${JSON.stringify(current)}\n${bot.output()}`).toBe("succeeded");
      expect(model.requests.map((r) => r.model)).toEqual([
        "cheap-model",
        "cheap-model",
        "cheap-model",
        "strong-model",
      ]);

      const cheapCost = (cheap.inputTokens * 0.5 + cheap.outputTokens * 1.5) / 1e6;
      const strongCost = (strong.inputTokens * 3 + strong.outputTokens * 15) / 1e6;
      const usage = current.usage as {
        inputTokens: number;
        outputTokens: number;
        costUsd: number;
        model: string;
        models: {
          model: string;
          profile: string;
          inputTokens: number;
          costUsd: number;
          escalation?: string;
        }[];
      };
      expect(usage).toMatchObject({
        inputTokens: cheap.inputTokens + strong.inputTokens,
        outputTokens: cheap.outputTokens + strong.outputTokens,
        model: "strong-model",
      });
      expect(usage.costUsd).toBeCloseTo(cheapCost + strongCost, 10);
      expect(usage.models).toHaveLength(2);
      expect(usage.models[0]).toMatchObject({ model: "cheap-model", profile: "cheap", ...cheap });
      expect(usage.models[0]!.escalation).toMatch(/^tool loop: list_files repeated 3 times/);
      expect(usage.models[0]!.costUsd).toBeCloseTo(cheapCost, 10);
      expect(usage.models[1]).toMatchObject({ model: "strong-model", profile: "strong", ...strong });
      expect(usage.models[1]!.escalation).toBeUndefined();
      expect(usage.models[1]!.costUsd).toBeCloseTo(strongCost, 10);

      // The robot's reply in the chat carries the usage line under the result.
      const total = cheap.inputTokens + strong.inputTokens + cheap.outputTokens + strong.outputTokens;
      await expect
        .poll(
          async () => {
            const page = await stack.api(
              "GET",
              `/api/chat/chatgroups/${stack.chatgroupId}/messages?limit=20`,
            );
            return (page.items as { taskId: string | null; body: string }[]).find((m) => m.taskId === task.id)
              ?.body;
          },
          { timeout: 15_000 },
        )
        .toBe(
          `all done\n\n— usage: ${total} tokens (${cheap.inputTokens + strong.inputTokens} in, ` +
            `${cheap.outputTokens + strong.outputTokens} out) · $0.0017 · cheap-model → strong-model`,
        );
    } finally {
      await bot.stop();
      await model.close();
    }
  }, 120_000);
});
