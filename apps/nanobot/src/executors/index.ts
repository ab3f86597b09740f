import type { EffectiveSettings } from "../settings.js";
import { createAgentExecutor } from "./agent/agent.js";
import { createProcessExecutor } from "./process-executor.js";
import type { Executor } from "./types.js";

export type ExecutorDeps = {
  hostEnv: Record<string, string | undefined>;
  fetchImpl?: typeof fetch;
};

/** The executor the (merged) robot config asks for. */
export function createExecutor(settings: EffectiveSettings, deps: ExecutorDeps): Executor {
  switch (settings.executor.type) {
    case "shell":
    case "command":
      return createProcessExecutor(settings.executor.type, { settings, hostEnv: deps.hostEnv });
    case "agent":
      return createAgentExecutor({ settings, hostEnv: deps.hostEnv, fetchImpl: deps.fetchImpl });
  }
}

export type { ExecutionContext, ExecutionResult, Executor } from "./types.js";
