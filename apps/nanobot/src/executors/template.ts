/** Placeholders a command template may use; each must be a whole argument (never spliced into a string). */
export const PLACEHOLDERS = ["{prompt}", "{contextFile}", "{taskId}", "{sandbox}", "{workdir}"] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

export class TemplateError extends Error {
  override name = "TemplateError";
}

/** Splits a template string into argv: whitespace separates, '…' and "…" quote, backslash escapes. No expansion. */
export function splitTemplate(template: string): string[] {
  const out: string[] = [];
  let current = "";
  let inToken = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < template.length; i++) {
    const ch = template[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === "\\" && quote === '"' && i + 1 < template.length) current += template[++i];
      else current += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inToken = true;
    } else if (ch === "\\" && i + 1 < template.length) {
      current += template[++i];
      inToken = true;
    } else if (/\s/.test(ch)) {
      if (inToken) out.push(current);
      current = "";
      inToken = false;
    } else {
      current += ch;
      inToken = true;
    }
  }
  if (quote) throw new TemplateError("unterminated quote in command template");
  if (inToken) out.push(current);
  return out;
}

/**
 * Turns a template into argv for a task. A placeholder inside a longer argument (say
 * `bash -c "run {prompt}"`) is refused: that is how prompts become shell injections.
 */
export function renderTemplate(
  template: string | string[],
  values: Record<Exclude<Placeholder, "{workdir}">, string>,
): string[] {
  const all: Record<Placeholder, string> = { ...values, "{workdir}": values["{sandbox}"] };
  const argv = Array.isArray(template) ? [...template] : splitTemplate(template);
  if (argv.length === 0) throw new TemplateError("empty command template");
  return argv.map((arg) => {
    if ((PLACEHOLDERS as readonly string[]).includes(arg)) return all[arg as Placeholder];
    for (const placeholder of PLACEHOLDERS) {
      if (arg.includes(placeholder)) {
        throw new TemplateError(
          `placeholder ${placeholder} must be a whole argument (got ${JSON.stringify(arg)}); use the env var PERSEUS_PROMPT inside scripts`,
        );
      }
    }
    return arg;
  });
}
