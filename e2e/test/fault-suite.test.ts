import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { formatReport } from "../fault/checker.js";
import { FAULT_KINDS, type FaultKind } from "../fault/faults.js";
import { runSeed } from "../fault/suite.js";

/**
 * T17: a mixed workload (chat posts, @robot tasks, realtime reader, workspace compare-and-set
 * writes, a heartbeating nanobot) with a seeded random fault every 10–20 s, three seeds at once,
 * each on its own platform, private Redis and fault proxies; invariants checked offline after.
 * `pnpm fault-suite --seeds 1,2,3 --duration 300` runs the same thing (see docs/fault-suite.md).
 */
const seeds = (process.env.FAULT_SUITE_SEEDS ?? "1,2,3")
  .split(",")
  .filter((s) => s.trim() !== "")
  .map(Number);
const durationMs = Number(process.env.FAULT_SUITE_DURATION ?? "300") * 1000;
const requestedKinds = (process.env.FAULT_SUITE_FAULTS ?? "").split(",").filter((kind) => kind.trim() !== "");
const unknownKinds = requestedKinds.filter((kind) => !FAULT_KINDS.includes(kind as FaultKind));
if (unknownKinds.length) throw new Error(`unknown fault kinds: ${unknownKinds.join(", ")}`);
const faultKinds = requestedKinds.length ? (requestedKinds as FaultKind[]) : undefined;
const outDir =
  process.env.FAULT_SUITE_OUT ?? join(import.meta.dirname, "..", "..", "test-results", "fault-suite");
// Start-up, drain (tasks ≤ 150 s, reader ≤ 45 s) and the check come on top of the workload.
const timeout = durationMs + 8 * 60_000;

describe("T17 fault suite", () => {
  it(
    `seeds ${seeds.join(", ")} for ${durationMs / 1000} s each, concurrently: 0 violations`,
    async () => {
      const reports = await Promise.all(
        seeds.map((seed) =>
          runSeed({ seed, durationMs, outDir, adminUrl: inject("perseusAdminUrl"), faultKinds }),
        ),
      );
      console.log(
        `fault suite summary (journals and reports in ${outDir}):\n${reports.map(formatReport).join("\n")}`,
      );
      for (const report of reports) expect(report.invariants.length).toBeGreaterThan(0);
      expect(
        reports.map((r) => ({
          seed: r.seed,
          violations: r.invariants.flatMap((i) => i.violations.map((v) => `${i.name}: ${v}`)),
        })),
      ).toEqual(seeds.map((seed) => ({ seed, violations: [] })));
    },
    timeout,
  );
});
