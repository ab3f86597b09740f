import { RobotConfig } from "@perseus/contracts";

/** A model profile as typed into the form: every field a string until validated. */
export type ProfileDraft = {
  name: string;
  provider: string;
  model: string;
  baseUrl: string;
  temperature: string;
  maxOutputTokens: string;
};

/** The config form's state: what the person typed, kept apart from the validated config. */
export type ConfigDraft = {
  executor: RobotConfig["executor"];
  commands: { name: string; template: string }[];
  allow: string;
  deny: string;
  modelProfiles: ProfileDraft[];
  defaultModelProfile: string;
  maxRuntimeSeconds: string;
  maxOutputBytes: string;
  maxConcurrency: string;
};

const lines = (text: string) =>
  text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
const optionalNumber = (text: string) => (text.trim() === "" ? undefined : Number(text));
const optionalText = (text: string) => (text.trim() === "" ? undefined : text.trim());

export function emptyProfile(): ProfileDraft {
  return { name: "", provider: "", model: "", baseUrl: "", temperature: "", maxOutputTokens: "" };
}

/** The form state for stored settings; settings that are not a valid config yet start from defaults. */
export function draftFromSettings(settings: Record<string, unknown>): ConfigDraft {
  const parsed = RobotConfig.safeParse(settings);
  const config: RobotConfig = parsed.success ? parsed.data : RobotConfig.parse({ executor: "shell" });
  return {
    executor: config.executor,
    commands: config.commands.map((command) => ({ ...command })),
    allow: config.allow.join("\n"),
    deny: config.deny.join("\n"),
    modelProfiles: config.modelProfiles.map((profile) => ({
      name: profile.name,
      provider: profile.provider,
      model: profile.model,
      baseUrl: profile.baseUrl ?? "",
      temperature: profile.temperature?.toString() ?? "",
      maxOutputTokens: profile.maxOutputTokens?.toString() ?? "",
    })),
    defaultModelProfile: config.defaultModelProfile ?? "",
    maxRuntimeSeconds: String(config.limits.maxRuntimeSeconds),
    maxOutputBytes: String(config.limits.maxOutputBytes),
    maxConcurrency: config.limits.maxConcurrency?.toString() ?? "",
  };
}

export type DraftResult = { ok: true; config: RobotConfig } | { ok: false; errors: Record<string, string> };

/**
 * Validates the form with the contract's own schema (strict: unknown keys refused), plus
 * the one cross-field rule the schema cannot express: the default profile must exist.
 */
export function configFromDraft(draft: ConfigDraft): DraftResult {
  const candidate = {
    executor: draft.executor,
    commands: draft.commands.map((command) => ({ name: command.name.trim(), template: command.template })),
    allow: lines(draft.allow),
    deny: lines(draft.deny),
    modelProfiles: draft.modelProfiles.map((profile) => {
      const out: Record<string, unknown> = {
        name: profile.name.trim(),
        provider: profile.provider.trim(),
        model: profile.model.trim(),
      };
      const baseUrl = optionalText(profile.baseUrl);
      if (baseUrl !== undefined) out.baseUrl = baseUrl;
      const temperature = optionalNumber(profile.temperature);
      if (temperature !== undefined) out.temperature = temperature;
      const maxOutputTokens = optionalNumber(profile.maxOutputTokens);
      if (maxOutputTokens !== undefined) out.maxOutputTokens = maxOutputTokens;
      return out;
    }),
    ...(optionalText(draft.defaultModelProfile)
      ? { defaultModelProfile: draft.defaultModelProfile.trim() }
      : {}),
    limits: {
      maxRuntimeSeconds: Number(draft.maxRuntimeSeconds),
      maxOutputBytes: Number(draft.maxOutputBytes),
      ...(optionalNumber(draft.maxConcurrency) !== undefined
        ? { maxConcurrency: Number(draft.maxConcurrency) }
        : {}),
    },
  };
  const parsed = RobotConfig.safeParse(candidate);
  const errors: Record<string, string> = {};
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      errors[issue.path.map(String).join(".") || "form"] ??= issue.message;
  }
  const names = candidate.modelProfiles.map((profile) => profile.name);
  if (candidate.defaultModelProfile && !names.includes(candidate.defaultModelProfile))
    errors.defaultModelProfile = "must be the name of one of the model profiles";
  if (new Set(names).size !== names.length) errors.modelProfiles = "model profile names must differ";
  if (!parsed.success || Object.keys(errors).length) return { ok: false, errors };
  return { ok: true, config: parsed.data };
}
