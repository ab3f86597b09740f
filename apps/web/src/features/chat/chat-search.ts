import { z } from "zod";

/** `/chat?chatgroup=<id>&thread=<messageId>` (kept apart so the page itself can load lazily). */
export const chatSearch = z.object({
  chatgroup: z.string().optional(),
  thread: z.string().optional(),
});
export type ChatSearch = z.infer<typeof chatSearch>;
