import { TaskUsage } from "@perseus/contracts";

const count = (n: number) => n.toLocaleString("en-US");

function usd(amount: number): string {
  if (amount >= 0.01) return `$${amount.toFixed(2)}`;
  // Small agent tasks cost fractions of a cent: two significant digits, no exponent.
  const rounded = Number(amount.toPrecision(2));
  return `$${rounded.toFixed(8).replace(/0+$/, "").replace(/\.$/, "")}`;
}

/**
 * The compact line a robot's reply ends with when its task reported usage, e.g.
 * `— usage: 3,150 tokens (3,000 in, 150 out) · $0.0012 · cheap → strong`. Null when the
 * task reported none (a shell task), so such replies stay exactly the result.
 */
export function formatUsageLine(raw: unknown): string | null {
  const parsed = TaskUsage.safeParse(raw ?? {});
  if (!parsed.success) return null;
  const usage = parsed.data;
  const input = usage.inputTokens ?? 0;
  const output = usage.outputTokens ?? 0;
  const total = input + output;
  if (total === 0 && usage.costUsd === undefined) return null;
  const parts = [`${count(total)} token${total === 1 ? "" : "s"} (${count(input)} in, ${count(output)} out)`];
  if (usage.costUsd !== undefined) parts.push(usd(usage.costUsd));
  const models = usage.models?.length ? usage.models.map((m) => m.model) : usage.model ? [usage.model] : [];
  if (models.length) parts.push(models.join(" → "));
  return `— usage: ${parts.join(" · ")}`;
}
