import { RobotConfig } from "@perseus/contracts";
import { z } from "zod";

/**
 * Robot settings come from two places: the platform's central config (contracts
 * `RobotConfig`, pushed in welcome/config frames, never secrets) and the local config
 * file. {@link mergeSettings} combines them so the local file can only tighten what the
 * platform allows. Secrets (model API keys) exist only in the local file.
 */
export const ExecutorType = z.enum(["shell", "command", "agent"]);
export type ExecutorType = z.infer<typeof ExecutorType>;

/** argv template: an array, or a string split on whitespace with '…'/"…" quoting (never a shell). */
export const CommandTemplate = z.union([z.string().min(1), z.array(z.string()).min(1)]);
export type CommandTemplate = z.infer<typeof CommandTemplate>;

const Milliseconds = z
  .number()
  .int()
  .min(100)
  .max(7 * 24 * 3_600_000);

export const ExecutorSettings = z.object({
  type: ExecutorType.optional(),
  /** shell: default `bash -lc {prompt}`; command: the agent CLI, e.g. `claude -p {prompt}`. */
  command: CommandTemplate.optional(),
  /** What the process reads on stdin: nothing, or the prompt. */
  stdin: z.enum(["none", "prompt"]).optional(),
  timeoutMs: Milliseconds.optional(),
  /** Cap on the result text (the tail of stdout is kept). */
  maxOutputChars: z.number().int().min(1_000).max(200_000).optional(),
});
export type ExecutorSettings = z.infer<typeof ExecutorSettings>;

/** Allow entries are program names or word prefixes ("git status"); deny/approval entries are case-insensitive regexes. */
export const CommandPolicySettings = z.object({
  allow: z.array(z.string().min(1)).optional(),
  deny: z.array(z.string().min(1)).optional(),
  /** These need an approval even when the program is allowed. */
  requireApproval: z.array(z.string().min(1)).optional(),
});
export type CommandPolicySettings = z.infer<typeof CommandPolicySettings>;

export const LocalModelProfile = z.object({
  name: z.string().min(1).max(64),
  /** OpenAI-compatible base URL, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1. */
  baseUrl: z.url(),
  model: z.string().min(1),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().min(1).optional(),
  apiKey: z.string().optional(),
  /** The name of an environment variable holding the key (preferred over `apiKey`). */
  apiKeyEnv: z.string().optional(),
  /** USD per million tokens, for the cost reported with each task. */
  inputUsdPerMTok: z.number().min(0).optional(),
  outputUsdPerMTok: z.number().min(0).optional(),
});
export type LocalModelProfile = z.infer<typeof LocalModelProfile>;

export const AgentSettings = z.object({
  /** Ordered cheap → strong; used when the platform names no profiles. */
  profiles: z.array(LocalModelProfile).optional(),
  maxSteps: z.number().int().min(1).max(200).optional(),
  /** Run after the model says it is done; a non-zero exit is a failed self-check (escalate). */
  selfCheck: z.object({ command: CommandTemplate, timeoutMs: Milliseconds.optional() }).optional(),
  system: z.string().max(20_000).optional(),
});
export type AgentSettings = z.infer<typeof AgentSettings>;

/** Secrets and overrides for a central model profile, by its name. */
export const ModelSecret = z.object({
  apiKey: z.string().optional(),
  apiKeyEnv: z.string().optional(),
  baseUrl: z.url().optional(),
});
export type ModelSecret = z.infer<typeof ModelSecret>;

/** The robot settings of the local config file (connection options live beside them, see config.ts). */
/**
 * Live terminals from the console (the `terminal` capability): off unless this machine's
 * config turns them on, and only with node-pty installed. Local only: the platform cannot enable them.
 */
export const TerminalSettings = z.object({
  enabled: z.boolean().default(false),
  /** The shell to run (default: $SHELL, else /bin/sh) and its arguments. */
  shell: z.string().min(1).optional(),
  args: z.array(z.string()).optional(),
  /** Working directory (default: <sandbox-dir>/terminal). */
  cwd: z.string().min(1).optional(),
  /** Terminals open at once (default 4). */
  maxSessions: z.number().int().min(1).max(32).optional(),
});
export type TerminalSettings = z.infer<typeof TerminalSettings>;

export const LocalSettings = z.object({
  executor: ExecutorSettings.optional(),
  policy: CommandPolicySettings.optional(),
  agent: AgentSettings.optional(),
  /** Executor types this machine agrees to run (default: all). */
  allowedExecutors: z.array(ExecutorType).optional(),
  models: z.record(z.string(), ModelSecret).optional(),
  /** Extra environment for executed processes, and names passed through from the nanobot's own environment. */
  env: z.record(z.string(), z.string()).optional(),
  passEnv: z.array(z.string()).optional(),
  keepSandboxes: z.boolean().optional(),
  /** Also keep progress frames in the durable outbox (default: only results). */
  durableProgress: z.boolean().optional(),
  terminal: TerminalSettings.optional(),
});
export type LocalSettings = z.infer<typeof LocalSettings>;

/** The platform's config, parsed key by key (see {@link parseCentralSettings}). */
export type CentralSettings = Partial<RobotConfig>;

/**
 * Parses welcome/config settings leniently: a newer platform's extra keys are ignored and
 * one bad section is dropped (and reported) instead of throwing the rest away.
 */
export function parseCentralSettings(settings: Record<string, unknown>): {
  settings: CentralSettings;
  problems: string[];
} {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(RobotConfig.shape)) {
    if (settings[key] === undefined) continue;
    const parsed = (schema as z.ZodType).safeParse(settings[key]);
    if (parsed.success) out[key] = parsed.data;
    else
      problems.push(
        `${key}: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`,
      );
  }
  return { settings: out as CentralSettings, problems };
}

export type ResolvedProfile = {
  name: string;
  baseUrl: string;
  model: string;
  temperature?: number;
  maxTokens?: number;
  apiKey?: string;
  inputUsdPerMTok?: number;
  outputUsdPerMTok?: number;
};

export type EffectiveSettings = {
  executor: {
    type: ExecutorType;
    command?: CommandTemplate;
    stdin: "none" | "prompt";
    timeoutMs: number;
    maxOutputChars: number;
  };
  /** Set when this machine refuses the executor the platform asks for: offers are rejected with it. */
  refusal: string | null;
  policy: { allow: string[] | null; deny: string[]; requireApproval: string[] };
  agent: {
    profiles: ResolvedProfile[];
    maxSteps: number;
    selfCheck?: AgentSettings["selfCheck"];
    system?: string;
  };
  /** min(local concurrency, central limits.maxConcurrency) is applied by the client. */
  maxConcurrency?: number;
  durableProgress: boolean;
  env: Record<string, string>;
  passEnv: string[];
  keepSandboxes: boolean;
  /** Non-fatal problems found while merging (reported in the log). */
  warnings: string[];
};

/** Always refused, whatever the lists say (united with both configs' deny lists). */
export const BUILTIN_DENY = [
  String.raw`\bsudo\b`,
  String.raw`\bsu\s`,
  String.raw`\bmkfs`,
  String.raw`\brm\s+(-[a-z]*\s+)*-[a-z]*r[a-z]*f?\s+(/|~)(\s|$)`,
  String.raw`:\(\)\s*\{`,
  String.raw`\b(shutdown|reboot|halt|poweroff)\b`,
  String.raw`\bdd\s+.*of=/dev/`,
];

/** Base URLs for providers a central profile may name without one. */
const PROVIDER_URLS: Record<string, string> = {
  openai: "https://api.openai.com/v1",
  openrouter: "https://openrouter.ai/api/v1",
  groq: "https://api.groq.com/openai/v1",
  mistral: "https://api.mistral.ai/v1",
  deepseek: "https://api.deepseek.com/v1",
  ollama: "http://127.0.0.1:11434/v1",
};

function intersect(a: string[] | undefined, b: string[] | undefined): string[] | null {
  const hasA = a !== undefined && a.length > 0;
  const hasB = b !== undefined && b.length > 0;
  if (!hasA && !hasB) return null;
  if (!hasA) return [...new Set(b)];
  if (!hasB) return [...new Set(a)];
  const other = new Set(b);
  return [...new Set(a.filter((entry) => other.has(entry)))];
}

const minDefined = (fallback: number, ...values: (number | undefined)[]) => {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length ? Math.min(...defined) : fallback;
};

/** The command template for this executor: a central `commands` entry named after it (or "default", or the first). */
function centralTemplate(central: CentralSettings, type: ExecutorType): string | undefined {
  const commands = central.commands ?? [];
  return (commands.find((c) => c.name === type) ?? commands.find((c) => c.name === "default") ?? commands[0])
    ?.template;
}

function resolveProfiles(
  central: CentralSettings,
  local: LocalSettings,
  hostEnv: Record<string, string | undefined>,
  warnings: string[],
): ResolvedProfile[] {
  const keyOf = (apiKey?: string, apiKeyEnv?: string) =>
    (apiKeyEnv ? hostEnv[apiKeyEnv] : undefined) ?? apiKey;
  const centralProfiles = central.modelProfiles ?? [];
  if (centralProfiles.length === 0) {
    return (local.agent?.profiles ?? []).map((p) => ({
      name: p.name,
      baseUrl: p.baseUrl,
      model: p.model,
      temperature: p.temperature,
      maxTokens: p.maxTokens,
      apiKey: keyOf(p.apiKey, p.apiKeyEnv),
      inputUsdPerMTok: p.inputUsdPerMTok,
      outputUsdPerMTok: p.outputUsdPerMTok,
    }));
  }
  // The default profile goes first; the list order is cheap → strong after it.
  const start = Math.max(
    0,
    centralProfiles.findIndex((p) => p.name === central.defaultModelProfile),
  );
  const ordered = [...centralProfiles.slice(start), ...centralProfiles.slice(0, start)];
  const resolved: ResolvedProfile[] = [];
  for (const profile of ordered) {
    const secret = local.models?.[profile.name];
    const baseUrl = secret?.baseUrl ?? profile.baseUrl ?? PROVIDER_URLS[profile.provider];
    if (!baseUrl) {
      warnings.push(
        `model profile ${profile.name}: no base URL (set models.${profile.name}.baseUrl locally)`,
      );
      continue;
    }
    resolved.push({
      name: profile.name,
      baseUrl,
      model: profile.model,
      temperature: profile.temperature,
      maxTokens: profile.maxOutputTokens,
      apiKey: keyOf(secret?.apiKey, secret?.apiKeyEnv),
      inputUsdPerMTok: profile.inputUsdPerMTok,
      outputUsdPerMTok: profile.outputUsdPerMTok,
    });
  }
  return resolved;
}

/**
 * Central config decides the executor and model profiles; the local file tightens:
 * allow lists intersect, deny lists unite, limits take the minimum, the local file pins
 * the command template and supplies the secrets. The platform never sets the environment.
 */
export function mergeSettings(
  central: CentralSettings,
  local: LocalSettings,
  hostEnv: Record<string, string | undefined> = {},
): EffectiveSettings {
  const warnings: string[] = [];
  const type = central.executor ?? local.executor?.type ?? "shell";
  const refusal =
    local.allowedExecutors && !local.allowedExecutors.includes(type)
      ? `executor '${type}' is not permitted by this machine's local config (allowedExecutors)`
      : null;
  const centralTimeout = central.limits?.maxRuntimeSeconds
    ? central.limits.maxRuntimeSeconds * 1_000
    : undefined;
  const centralOutput = central.limits?.maxOutputBytes
    ? Math.min(central.limits.maxOutputBytes, 200_000)
    : undefined;
  return {
    executor: {
      type,
      command: local.executor?.command ?? centralTemplate(central, type),
      stdin: local.executor?.stdin ?? "none",
      timeoutMs: minDefined(15 * 60_000, centralTimeout, local.executor?.timeoutMs),
      maxOutputChars: minDefined(100_000, centralOutput, local.executor?.maxOutputChars),
    },
    refusal,
    policy: {
      allow: intersect(central.allow, local.policy?.allow),
      deny: [...new Set([...BUILTIN_DENY, ...(central.deny ?? []), ...(local.policy?.deny ?? [])])],
      requireApproval: [...new Set(local.policy?.requireApproval ?? [])],
    },
    agent: {
      profiles: resolveProfiles(central, local, hostEnv, warnings),
      maxSteps: local.agent?.maxSteps ?? 30,
      selfCheck: local.agent?.selfCheck,
      system: local.agent?.system,
    },
    maxConcurrency: central.limits?.maxConcurrency,
    durableProgress: local.durableProgress ?? false,
    env: local.env ?? {},
    passEnv: local.passEnv ?? [],
    keepSandboxes: local.keepSandboxes ?? false,
    warnings,
  };
}
