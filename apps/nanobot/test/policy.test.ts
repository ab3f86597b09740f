import { describe, expect, it } from "vitest";
import { ApprovalGate, ApprovalRefused } from "../src/executors/approvals.js";
import { evaluateCommand } from "../src/executors/policy.js";
import { silentLogger } from "../src/log.js";
import { BUILTIN_DENY, mergeSettings, parseCentralSettings } from "../src/settings.js";

const policy = { allow: null, deny: BUILTIN_DENY, requireApproval: [] };

describe("command policy", () => {
  it.each([
    ["ls -la", "allow"],
    ["cat notes/plan.md", "allow"],
    ["grep -rn TODO .", "allow"],
    ["cat /etc/passwd", "approve"],
    ["cat ../../secret", "approve"],
    ["cat ~/.ssh/id_rsa", "approve"],
    ["curl http://127.0.0.1:9/x", "approve"],
    ["echo hi > out.txt", "approve"],
    ["ls; curl evil", "approve"],
    ["echo $(curl evil)", "approve"],
    ["/usr/bin/curl evil", "approve"],
    ["FOO=1 ls", "approve"],
    ["python3 -c 'import os'", "approve"],
    ["sudo ls", "deny"],
    ["rm -rf /", "deny"],
    ["", "deny"],
  ])("%j → %s", (command, action) => {
    expect(evaluateCommand(command, policy).action).toBe(action);
  });

  it("honours allow prefixes and approval patterns", () => {
    const p = { allow: ["git status", "ls"], deny: [], requireApproval: ["\\bls -R\\b"] };
    expect(evaluateCommand("git status -s", p).action).toBe("allow");
    expect(evaluateCommand("git push", p).action).toBe("approve");
    expect(evaluateCommand("ls -R", p).action).toBe("approve");
  });
});

describe("approval gate", () => {
  it("binds a grant to one task and the exact command, once", async () => {
    const gate = new ApprovalGate({ name: "yes", decide: async () => true }, silentLogger);
    const signal = new AbortController().signal;
    const grant = (await gate.request("task-a", "echo hi > a.txt", "test", signal))!;
    expect(() => gate.consume(grant, "task-a", "curl http://evil")).toThrow(ApprovalRefused);
    expect(() => gate.consume(grant, "task-b", "echo hi > a.txt")).toThrow(ApprovalRefused);
    expect(() => gate.consume({ ...grant }, "task-a", "echo hi > a.txt")).toThrow(ApprovalRefused); // a forged copy
    gate.consume(grant, "task-a", "echo hi > a.txt");
    expect(() => gate.consume(grant, "task-a", "echo hi > a.txt")).toThrow(/already used/);
  });

  it("denies when no approver is configured", async () => {
    const gate = new ApprovalGate(null, silentLogger);
    expect(await gate.request("t", "curl x", "test", new AbortController().signal)).toBeNull();
  });
});

describe("settings merge", () => {
  it("lets the local file only tighten: allow lists intersect, deny lists unite, limits take the minimum", () => {
    const { settings: central, problems } = parseCentralSettings({
      executor: "agent",
      allow: ["ls", "git", "npm"],
      deny: ["rm"],
      modelProfiles: [
        { name: "cheap", provider: "openai", model: "small" },
        { name: "strong", provider: "custom", model: "big", baseUrl: "http://127.0.0.1:1/v1" },
      ],
      limits: { maxRuntimeSeconds: 60, maxOutputBytes: 5_000 },
      futureKey: { anything: true },
      commands: "not-an-array",
    });
    expect(problems).toEqual([expect.stringMatching(/^commands:/)]);
    const merged = mergeSettings(
      central,
      {
        policy: { allow: ["ls", "git", "curl"], deny: ["npm publish"] },
        executor: { timeoutMs: 120_000 },
        models: { cheap: { apiKeyEnv: "CHEAP_KEY" }, strong: { apiKey: "sk-local" } },
      },
      { CHEAP_KEY: "sk-env" },
    );
    expect(merged.executor.type).toBe("agent");
    expect(merged.policy.allow).toEqual(["ls", "git"]);
    expect(merged.policy.deny).toEqual(expect.arrayContaining(["rm", "npm publish", ...BUILTIN_DENY]));
    expect(merged.executor.timeoutMs).toBe(60_000);
    expect(merged.executor.maxOutputChars).toBe(5_000);
    expect(merged.agent.profiles.map((p) => [p.name, p.baseUrl, p.apiKey])).toEqual([
      ["cheap", "https://api.openai.com/v1", "sk-env"],
      ["strong", "http://127.0.0.1:1/v1", "sk-local"],
    ]);
  });

  it("refuses an executor the local file does not allow", () => {
    const merged = mergeSettings({ executor: "agent" }, { allowedExecutors: ["shell"] });
    expect(merged.refusal).toMatch(/not permitted/);
  });
});
