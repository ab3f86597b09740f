import { splitTemplate, TemplateError } from "./template.js";

export type CommandPolicy = { allow: string[] | null; deny: string[]; requireApproval: string[] };
export type PolicyDecision = { action: "allow" | "deny" | "approve"; reason: string };

/**
 * The programs a model may run without asking when nobody configured an allow list:
 * read-mostly tools without network access. Everything else needs an approval.
 */
export const DEFAULT_AGENT_ALLOW = [
  "ls",
  "cat",
  "head",
  "tail",
  "wc",
  "echo",
  "printf",
  "pwd",
  "grep",
  "sort",
  "uniq",
  "diff",
  "true",
  "false",
  "date",
  "basename",
  "dirname",
  "tr",
  "cut",
  "nl",
  "mkdir",
  "touch",
];

// Anything a shell would expand, chain, redirect or substitute: such a command is not "simple".
const SHELL_SYNTAX = /[;&|<>$`(){}\n\r!#\\]/;

function toRegExp(pattern: string): RegExp {
  try {
    return new RegExp(pattern, "i");
  } catch {
    return new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i");
  }
}

/** An argument that names something outside the sandbox: an absolute or home path, `..`, or a URL. */
function reachesOutside(arg: string): boolean {
  if (arg.includes("://")) return true;
  return arg
    .split("=")
    .some((part) => part.startsWith("/") || part.startsWith("~") || part.split("/").includes(".."));
}

function matchesEntry(argv: string[], entry: string): boolean {
  const words = entry.trim().split(/\s+/);
  return words.every((word, i) => argv[i] === word);
}

/**
 * Classifies a shell command: deny patterns refuse it; require-approval patterns, shell
 * syntax, programs given by path, arguments reaching outside the sandbox, and programs
 * not on the allow list need an approval; the rest may run. `allow: null` with
 * `defaultAllow: null` means "no allow list": only deny and approval patterns apply.
 */
export function evaluateCommand(
  command: string,
  policy: CommandPolicy,
  defaultAllow: string[] | null = DEFAULT_AGENT_ALLOW,
): PolicyDecision {
  if (command.trim() === "") return { action: "deny", reason: "empty command" };
  if (command.length > 10_000) return { action: "deny", reason: "command too long" };
  for (const pattern of policy.deny) {
    if (toRegExp(pattern).test(command)) return { action: "deny", reason: `matches deny pattern ${pattern}` };
  }
  for (const pattern of policy.requireApproval) {
    if (toRegExp(pattern).test(command))
      return { action: "approve", reason: `matches approval pattern ${pattern}` };
  }
  const allow = policy.allow ?? defaultAllow;
  if (allow === null) return { action: "allow", reason: "no allow list configured" };
  if (SHELL_SYNTAX.test(command))
    return { action: "approve", reason: "uses shell syntax (chaining, redirection or substitution)" };
  let argv: string[];
  try {
    argv = splitTemplate(command);
  } catch (error) {
    if (error instanceof TemplateError) return { action: "deny", reason: error.message };
    throw error;
  }
  const program = argv[0] ?? "";
  if (program.includes("/") || program.includes("="))
    return { action: "approve", reason: "program given by path or with env assignment" };
  if (!allow.some((entry) => matchesEntry(argv, entry)))
    return { action: "approve", reason: `'${program}' is not on the allow list` };
  const outside = argv.slice(1).find(reachesOutside);
  if (outside !== undefined)
    return { action: "approve", reason: `argument reaches outside the sandbox: ${outside}` };
  return { action: "allow", reason: "allowed program" };
}
