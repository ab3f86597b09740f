import { describe, expect, it } from "vitest";
import { configFromDraft, draftFromSettings, emptyProfile } from "./robot-config-draft.js";

describe("robot configuration form", () => {
  it("round-trips stored settings through the form unchanged", () => {
    const settings = {
      executor: "command",
      commands: [{ name: "claude", template: "claude -p {prompt}" }],
      allow: ["git *", "ls"],
      deny: ["rm -rf *"],
      modelProfiles: [{ name: "fast", provider: "openai", model: "gpt-x", temperature: 0.2 }],
      defaultModelProfile: "fast",
      limits: { maxRuntimeSeconds: 600, maxOutputBytes: 2048 },
    };
    const result = configFromDraft(draftFromSettings(settings));
    expect(result).toEqual({ ok: true, config: settings });
  });

  it("starts from defaults when nothing valid is stored yet", () => {
    const draft = draftFromSettings({});
    expect(draft.executor).toBe("shell");
    expect(draft.maxRuntimeSeconds).toBe("900");
    expect(configFromDraft(draft).ok).toBe(true);
  });

  it("reports contract violations by field path, and the default profile that does not exist", () => {
    const draft = draftFromSettings({});
    draft.allow = "ok\n\n  \nalso-ok";
    draft.modelProfiles = [
      { ...emptyProfile(), name: "p", provider: "x", model: "m", baseUrl: "not a url", temperature: "3" },
    ];
    draft.defaultModelProfile = "missing";
    draft.maxOutputBytes = "10";
    const result = configFromDraft(draft);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(Object.keys(result.errors).sort()).toEqual([
      "defaultModelProfile",
      "limits.maxOutputBytes",
      "modelProfiles.0.baseUrl",
      "modelProfiles.0.temperature",
    ]);
  });

  it("drops blank lines of allow/deny lists and refuses duplicate profile names", () => {
    const draft = draftFromSettings({});
    draft.deny = " sudo *\n\nshutdown \n";
    const ok = configFromDraft(draft);
    expect(ok.ok && ok.config.deny).toEqual(["sudo *", "shutdown"]);
    draft.modelProfiles = [
      { ...emptyProfile(), name: "a", provider: "p", model: "m" },
      { ...emptyProfile(), name: "a", provider: "p", model: "n" },
    ];
    const twice = configFromDraft(draft);
    expect(twice.ok ? {} : twice.errors).toHaveProperty("modelProfiles");
  });
});
