import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { readText, SERVICES, serviceConfig } from "./config-sources.js";

type ComposeService = { environment?: Record<string, string | number | boolean>; command?: string[] };
type Compose = { services: Record<string, ComposeService> };

/** Compose's own interpolation of `${VAR}` and `${VAR:-default}` with nothing set in the environment. */
function interpolate(value: string): string {
  return value.replace(
    /\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g,
    (_, _name: string, fallback?: string) => fallback ?? "",
  );
}

const compose = parse(readText("docker-compose.yml"), { merge: true }) as Compose;
const environmentOf = (service: string) =>
  Object.fromEntries(
    Object.entries(compose.services[service]?.environment ?? {}).map(([key, value]) => [
      key,
      interpolate(String(value)),
    ]),
  );

describe("docker-compose.yml", () => {
  it.each(SERVICES)(
    "%s starts with the configuration compose gives it, and sets no unknown variable",
    async (name) => {
      expect(compose.services[name], `service ${name} in compose`).toBeDefined();
      const { load } = await serviceConfig(name);
      const env = environmentOf(name);
      expect(() => load(env)).not.toThrow();
      // The shared block may carry what only some services read; a name no service knows is a typo.
      const known = new Set<string>();
      for (const service of SERVICES)
        for (const key of (await serviceConfig(service)).variables) known.add(key);
      expect(Object.keys(env).filter((key) => !known.has(key))).toEqual([]);
    },
  );

  it("runs the migration before the services, and Redis never evicts queued work", () => {
    for (const name of ["auth", "chat", "dispatch", "workspace"]) {
      const dependsOn = (compose.services[name] as { depends_on?: Record<string, { condition: string }> })
        .depends_on;
      expect(dependsOn?.migrate?.condition, name).toBe("service_completed_successfully");
    }
    const redis = compose.services.redis?.command ?? [];
    expect(redis.join(" ")).toContain("--maxmemory-policy noeviction");
    expect(redis.join(" ")).toContain("--appendonly yes");
  });

  it("publishes only the edge", () => {
    const published = Object.entries(compose.services)
      .filter(([, service]) => (service as { ports?: unknown[] }).ports?.length)
      .map(([name]) => name);
    expect(published).toEqual(["edge"]);
  });
});
