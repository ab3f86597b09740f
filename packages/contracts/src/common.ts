import { z } from "zod";

/** Every entity id on the wire is a UUID (v7 where we mint it, so ids sort by time). */
export const Id = z.uuid();
export type Id = z.infer<typeof Id>;

export const TenantId = Id.describe("Tenant id");
export type TenantId = z.infer<typeof TenantId>;

/** Lower-case handle used in `@mentions` for people and robots. */
export const Handle = z
  .string()
  .min(2)
  .max(32)
  .regex(/^[a-z][a-z0-9_-]*$/, "lower-case letters, digits, '_' or '-', starting with a letter");
export type Handle = z.infer<typeof Handle>;

export const Timestamp = z.iso.datetime({ offset: true });
export type Timestamp = z.infer<typeof Timestamp>;

export const IdParams = z.object({ id: Id });
export type IdParams = z.infer<typeof IdParams>;

/** Opaque cursor pagination: the server encodes its position, the client echoes it back. */
export const CursorQuery = z.object({
  cursor: z.string().max(512).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type CursorQuery = z.infer<typeof CursorQuery>;

/** A page of items with the cursor of the next page (null when this is the last one). */
export function Page<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}
export type Page<T> = { items: T[]; nextCursor: string | null };

export function encodeCursor(position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(position)).toString("base64url");
}

/** Decodes a cursor made by {@link encodeCursor}; returns null for anything malformed. */
export function decodeCursor<T extends z.ZodType>(cursor: string, schema: T): z.infer<T> | null {
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
