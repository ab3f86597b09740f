import { WorkspaceLayer } from "@perseus/contracts";
import { z } from "zod";

/** `/workspace?layer=chatgroup&id=<uuid>&file=<path>` (kept apart so the page itself can load lazily). */
export const workspaceSearch = z.object({
  layer: WorkspaceLayer.optional(),
  id: z.string().optional(),
  file: z.string().optional(),
});
export type WorkspaceSearch = z.infer<typeof workspaceSearch>;
