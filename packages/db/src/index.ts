export { sql } from "drizzle-orm";
export * from "./client.js";
export * from "./guard.js";
export * as access from "./queries/access.js";
export { roles } from "./roles.js";
export * as schema from "./schema/index.js";
