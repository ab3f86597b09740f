import { timestamp, uuid } from "drizzle-orm/pg-core";

/** The tenant column every tenant-scoped table starts with (RLS keys on it). */
export const tenantId = () => uuid().notNull();
export const createdAt = () => timestamp({ withTimezone: true, mode: "date" }).notNull().defaultNow();
export const ts = () => timestamp({ withTimezone: true, mode: "date" });
