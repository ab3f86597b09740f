import type { ModelUsage, TaskUsage } from "@perseus/contracts";
import type { ResolvedProfile } from "../../settings.js";

type Entry = {
  profile: ResolvedProfile;
  counts: { inputTokens: number; outputTokens: number };
  escalation?: string;
};

// Float sums of prices leave noise in the last digits; a millionth of a cent is plenty.
const roundUsd = (usd: number) => Math.round(usd * 1e8) / 1e8;

function costOf(entry: Entry): number | undefined {
  const { inputUsdPerMTok, outputUsdPerMTok } = entry.profile;
  if (inputUsdPerMTok === undefined && outputUsdPerMTok === undefined) return undefined;
  return roundUsd(
    (entry.counts.inputTokens * (inputUsdPerMTok ?? 0) +
      entry.counts.outputTokens * (outputUsdPerMTok ?? 0)) /
      1_000_000,
  );
}

/**
 * Token counts per model profile as the agent moves cheap → strong, priced with each
 * profile's USD per million tokens. The total cost is given only when every model used
 * has a price: a partial sum would understate what the task cost.
 */
export function createUsageMeter() {
  const entries: Entry[] = [];
  return {
    /** The counters of a new attempt with `profile`; the model client's turns add to them. */
    start(profile: ResolvedProfile) {
      const entry: Entry = { profile, counts: { inputTokens: 0, outputTokens: 0 } };
      entries.push(entry);
      return entry.counts;
    },
    /** Records why the current attempt gave way to the next profile. */
    escalated(signal: string) {
      const current = entries.at(-1);
      if (current) current.escalation = signal.slice(0, 500);
    },
    summary(): TaskUsage {
      const models: ModelUsage[] = entries.map((entry) => {
        const costUsd = costOf(entry);
        return {
          model: entry.profile.model,
          profile: entry.profile.name,
          ...entry.counts,
          ...(costUsd === undefined ? {} : { costUsd }),
          ...(entry.escalation === undefined ? {} : { escalation: entry.escalation }),
        };
      });
      const priced = models.every((m) => m.costUsd !== undefined);
      return {
        inputTokens: models.reduce((sum, m) => sum + m.inputTokens, 0),
        outputTokens: models.reduce((sum, m) => sum + m.outputTokens, 0),
        ...(priced && models.length
          ? { costUsd: roundUsd(models.reduce((sum, m) => sum + (m.costUsd ?? 0), 0)) }
          : {}),
        ...(entries.length ? { model: entries.at(-1)!.profile.model } : {}),
        models,
      };
    },
  };
}
