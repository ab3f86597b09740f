import { describe, expect, it } from "vitest";
import { ApprovalGate, ApprovalRefused, bindingOf } from "../src/executors/approvals.js";
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
  it("binds a grant to one task and the exact command, directory and environment, once", async () => {
    const gate = new ApprovalGate({ name: "yes", decide: async () => true }, silentLogger);
    const signal = new AbortController().signal;
    const subject = { taskId: "task-a", command: "echo hi > a.txt", cwd: "/sandbox/a", env: { A: "1" } };
    const grant = (await gate.request(subject, "test", signal))!;
    expect(() => gate.consume(grant, { ...subject, command: "curl http://evil" })).toThrow(ApprovalRefused);
    expect(() => gate.consume(grant, { ...subject, taskId: "task-b" })).toThrow(ApprovalRefused);
    expect(() => gate.consume(grant, { ...subject, cwd: "/" })).toThrow(ApprovalRefused);
    expect(() => gate.consume(grant, { ...subject, env: { A: "1", LD_PRELOAD: "x" } })).toThrow(
      ApprovalRefused,
    );
    expect(() => gate.consume({ ...grant }, subject)).toThrow(ApprovalRefused); // a forged copy
    gate.consume(grant, { ...subject, env: { A: "1" } });
    expect(() => gate.consume(grant, subject)).toThrow(/already used/);
  });

  it("refuses a decision made elsewhere for another binding, and denies without an approver", async () => {
    const subject = { taskId: "t", command: "curl x", cwd: "/s", env: {} };
    const elsewhere = new ApprovalGate(
      {
        name: "remote",
        decide: async () => ({
          approved: true,
          bindingHash: bindingOf({ ...subject, cwd: "/" }).bindingHash,
        }),
      },
      silentLogger,
    );
    expect(await elsewhere.request(subject, "test", new AbortController().signal)).toBeNull();
    const bound = new ApprovalGate(
      { name: "remote", decide: async (request) => ({ approved: true, bindingHash: request.bindingHash }) },
      silentLogger,
    );
    expect(await bound.request(subject, "test", new AbortController().signal)).not.toBeNull();
    const gate = new ApprovalGate(null, silentLogger);
    expect(await gate.request(subject, "test", new AbortController().signal)).toBeNull();
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
