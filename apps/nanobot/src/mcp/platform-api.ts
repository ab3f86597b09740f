import {
  buildPath,
  chatRoutes,
  MessagePage,
  WorkspaceEntry,
  WorkspaceTreeResponse,
  workspaceRoutes,
} from "@perseus/contracts";
import { platformUrl } from "../client/transport.js";

export class PlatformApiError extends Error {
  override name = "PlatformApiError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type TaskScope = { platformUrl: string; taskToken: string; chatgroupId: string };

/**
 * The platform calls a task may make with its task token (`ptt_…`): the invoking
 * chatgroup's history and its workspace view, for the life of the lease. Paths come from
 * the contracts' route tables, so they move with the services.
 */
export function createTaskApi(scope: TaskScope, fetchImpl: typeof fetch = fetch) {
  const call = async (
    service: "chat" | "workspace",
    path: string,
    init: RequestInit & { query?: Record<string, string> },
  ) => {
    const url = new URL(platformUrl(scope.platformUrl, `/api/${service}${path}`));
    for (const [k, v] of Object.entries(init.query ?? {})) url.searchParams.set(k, v);
    const response = await fetchImpl(url, {
      ...init,
      headers: { authorization: `Bearer ${scope.taskToken}`, ...(init.headers as Record<string, string>) },
      signal: AbortSignal.timeout(30_000),
    });
    if (!response.ok) {
      let detail = "";
      try {
        const problem = (await response.json()) as { detail?: string; title?: string };
        detail = problem.detail ?? problem.title ?? "";
      } catch {}
      throw new PlatformApiError(response.status, `HTTP ${response.status}${detail ? `: ${detail}` : ""}`);
    }
    return response;
  };
  const layer = { layer: "chatgroup", layerId: scope.chatgroupId };

  return {
    async history(options: { limit: number; before?: number }) {
      const query: Record<string, string> = { limit: String(options.limit) };
      if (options.before !== undefined) query.before = String(options.before);
      const response = await call(
        "chat",
        buildPath(chatRoutes.listMessages.path, { chatgroupId: scope.chatgroupId }),
        { method: "GET", query },
      );
      return MessagePage.parse(await response.json());
    },
    async postMessage(body: string, clientKey: string) {
      const response = await call(
        "chat",
        buildPath(chatRoutes.postMessage.path, { chatgroupId: scope.chatgroupId }),
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ body, clientKey }),
        },
      );
      return (await response.json()) as { id: string; seq: number };
    },
    async list(path: string) {
      const response = await call("workspace", buildPath(workspaceRoutes.viewTree.path, layer), {
        method: "GET",
        query: { path },
      });
      return WorkspaceTreeResponse.parse(await response.json());
    },
    async read(path: string) {
      const response = await call("workspace", buildPath(workspaceRoutes.viewReadFile.path, layer), {
        method: "GET",
        query: { path },
      });
      return response.text();
    },
    /** Creates the file, or overwrites the current version (optimistic: If-Match with its ETag). */
    async write(path: string, content: string) {
      const route = buildPath(workspaceRoutes.writeFile.path, layer);
      const put = (headers: Record<string, string>) =>
        call("workspace", route, {
          method: "PUT",
          query: { path },
          headers: { "content-type": "application/octet-stream", ...headers },
          body: content,
        });
      try {
        return WorkspaceEntry.parse(await (await put({ "if-none-match": "*" })).json());
      } catch (error) {
        if (!(error instanceof PlatformApiError) || error.status !== 412) throw error;
      }
      const current = await call("workspace", buildPath(workspaceRoutes.readFile.path, layer), {
        method: "GET",
        query: { path },
      });
      const etag = current.headers.get("etag");
      await current.body?.cancel();
      if (!etag) throw new PlatformApiError(412, "the file exists but has no ETag to overwrite against");
      return WorkspaceEntry.parse(await (await put({ "if-match": etag })).json());
    },
  };
}
export type TaskApi = ReturnType<typeof createTaskApi>;
