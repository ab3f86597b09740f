import { authRoutes, chatRoutes, type WorkspaceEntry } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { useNavigate, useSearch } from "@tanstack/react-router";
import { useId } from "react";
import { api } from "../../api/api.js";
import { describeError } from "../../api/errors.js";
import { useSession } from "../../session/session.js";
import { FilePanel } from "./file-panel.js";
import { FileTree, treeKey } from "./file-tree.js";
import { UploadZone } from "./upload-zone.js";
import { type LayerRef, listTree } from "./workspace-api.js";
import type { WorkspaceSearch } from "./workspace-search.js";
import "./workspace.css";

type Scope = LayerRef & { name: string };

function useScopes() {
  const { session } = useSession();
  return useQuery({
    queryKey: ["workspace", "scopes", session?.tenant.id],
    enabled: Boolean(session),
    staleTime: 60_000,
    queryFn: async ({ signal }): Promise<Scope[]> => {
      const [groups, teams] = await Promise.all([
        api.call("/api/chat", chatRoutes.listChatgroups, { signal }),
        api.call("/api/auth", authRoutes.listTeams, { signal }),
      ]);
      const tenant: Scope[] = session
        ? [{ layer: "tenant", layerId: session.tenant.id, name: session.tenant.name }]
        : [];
      return [
        ...groups.items
          .filter((group) => !group.isArchived)
          .map(
            (group): Scope => ({ layer: "chatgroup", layerId: group.chatgroupId, name: `#${group.name}` }),
          ),
        ...teams.items
          .filter((team) => !team.archived)
          .map((team): Scope => ({ layer: "team", layerId: team.id, name: team.name })),
        ...tenant,
      ];
    },
  });
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash > 0 ? path.slice(0, slash) : "";
}

/** The shared drive: pick a chatgroup, team or the tenant; see its merged view and work on files. */
export function WorkspacePage() {
  const search = useSearch({ strict: false }) as WorkspaceSearch;
  const navigate = useNavigate();
  const scopes = useScopes();
  const selectId = useId();
  const scope =
    scopes.data?.find((item) => item.layer === search.layer && item.layerId === search.id) ??
    scopes.data?.[0];
  const view: LayerRef | null = scope ? { layer: scope.layer, layerId: scope.layerId } : null;
  const go = (next: WorkspaceSearch) => void navigate({ to: "/workspace", search: next });

  // The selected file, read fresh from its directory's listing (ETag and version change with every save).
  const parent = useQuery({
    queryKey: view && search.file ? treeKey(view, parentOf(search.file)) : ["workspace", "none"],
    enabled: Boolean(view && search.file),
    queryFn: ({ signal }) => (view ? listTree(view, parentOf(search.file ?? ""), signal) : Promise.reject()),
  });
  const selected: WorkspaceEntry | undefined = parent.data?.entries.find(
    (entry) => entry.path === search.file && entry.kind === "file",
  );

  return (
    <section className="page workspace-page">
      <header className="page-header">
        <h1>Workspace</h1>
        {scopes.data?.length ? (
          <div className="field workspace-scope">
            <label htmlFor={selectId}>Layer</label>
            <select
              id={selectId}
              value={scope ? `${scope.layer}:${scope.layerId}` : ""}
              onChange={(event) => {
                const [layer, id] = event.target.value.split(":");
                go({ layer: layer as Scope["layer"], ...(id ? { id } : {}) });
              }}
            >
              {(["chatgroup", "team", "tenant"] as const).map((layer) => (
                <optgroup
                  key={layer}
                  label={layer === "chatgroup" ? "Chatgroups" : layer === "team" ? "Teams" : "Tenant"}
                >
                  {scopes.data
                    .filter((item) => item.layer === layer)
                    .map((item) => (
                      <option key={item.layerId} value={`${item.layer}:${item.layerId}`}>
                        {item.name}
                      </option>
                    ))}
                </optgroup>
              ))}
            </select>
          </div>
        ) : null}
      </header>
      <p className="muted small">
        A chatgroup sees its own files over its team's and the tenant's; the nearest layer wins. Marks:{" "}
        <span className="layer-mark layer-chatgroup">chatgroup</span>{" "}
        <span className="layer-mark layer-team">team</span>{" "}
        <span className="layer-mark layer-tenant">tenant</span>.
      </p>
      {scopes.isPending ? (
        <p role="status" className="muted">
          Loading…
        </p>
      ) : scopes.error ? (
        <p role="alert" className="alert alert-error">
          {describeError(scopes.error)}
        </p>
      ) : !scope || !view ? (
        <p className="muted">No workspace yet: create a team or chatgroup first.</p>
      ) : (
        <>
          <UploadZone key={`${view.layer}:${view.layerId}`} layer={view} layerName={scope.name} />
          <div className="workspace-body">
            <FileTree
              key={`${view.layer}:${view.layerId}`}
              view={view}
              selected={search.file ?? null}
              onSelect={(entry) => go({ layer: view.layer, id: view.layerId, file: entry.path })}
            />
            <div className="workspace-detail">
              {!search.file ? (
                <p className="muted">Pick a file to preview, edit or download it.</p>
              ) : parent.isPending ? (
                <p role="status" className="muted">
                  Loading…
                </p>
              ) : selected ? (
                <FilePanel key={selected.path} view={view} entry={selected} />
              ) : (
                <p className="muted">{search.file} is not in this view.</p>
              )}
            </div>
          </div>
        </>
      )}
    </section>
  );
}
