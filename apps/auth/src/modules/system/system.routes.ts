import { listInstances } from "@perseus/kit";
import type { Redis } from "ioredis";
import type { Handlers } from "../../lib/handlers.js";

/** The service registry, read for the console's status page. */
export function systemHandlers(deps: { redis: Redis; prefix: string }): Handlers<"listInstances"> {
  return {
    listInstances: async () => ({ items: await listInstances(deps.redis, deps.prefix) }),
  };
}
