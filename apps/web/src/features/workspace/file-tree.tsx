import type { WorkspaceEntry } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { describeError } from "../../api/errors.js";
import { type LayerRef, listTree } from "./workspace-api.js";

export const treeKey = (view: LayerRef, path: string) =>
  ["workspace", "tree", view.layer, view.layerId, path] as const;

type Props = {
  view: LayerRef;
  selected: string | null;
  onSelect: (entry: WorkspaceEntry) => void;
};

const layerLabel: Record<WorkspaceEntry["origin"]["layer"], string> = {
  chatgroup: "chatgroup",
  team: "team",
  tenant: "tenant",
};

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

/** One directory's entries; subdirectories load when opened. */
function Directory({ view, path, selected, onSelect, depth }: Props & { path: string; depth: number }) {
  const tree = useQuery({
    queryKey: treeKey(view, path),
    queryFn: ({ signal }) => listTree(view, path, signal),
  });
  if (tree.isPending)
    return (
      <p role="status" className="muted small tree-note">
        Loading…
      </p>
    );
  if (tree.error)
    return (
      <p role="alert" className="field-error tree-note">
        {describeError(tree.error)}
      </p>
    );
  const entries = tree.data.entries.filter((entry) => entry.kind !== "whiteout");
  if (!entries.length && depth === 0)
    return <p className="muted tree-note">No files yet. Drop files here or use “Upload files”.</p>;
  if (!entries.length) return <p className="muted small tree-note">(empty)</p>;
  return (
    <ul className="tree-list">
      {entries.map((entry) => (
        <TreeEntry
          key={entry.path}
          entry={entry}
          view={view}
          selected={selected}
          onSelect={onSelect}
          depth={depth}
        />
      ))}
      {tree.data.truncated ? <li className="muted small">More entries are not shown.</li> : null}
    </ul>
  );
}

function TreeEntry({
  entry,
  view,
  selected,
  onSelect,
  depth,
}: Props & { entry: WorkspaceEntry; depth: number }) {
  const [open, setOpen] = useState(false);
  const inherited = entry.origin.layer !== view.layer;
  const origin = (
    <span
      className={`layer-mark layer-${entry.origin.layer}`}
      title={inherited ? `Inherited from the ${layerLabel[entry.origin.layer]} layer` : "In this layer"}
    >
      {inherited ? `from ${layerLabel[entry.origin.layer]}` : "here"}
    </span>
  );
  if (entry.kind === "dir") {
    return (
      <li className="tree-item">
        <button
          type="button"
          className="tree-row tree-dir"
          aria-expanded={open}
          aria-label={`Folder ${entry.name}${inherited ? `, inherited from the ${entry.origin.layer} layer` : ""}`}
          onClick={() => setOpen((value) => !value)}
        >
          <span aria-hidden="true">{open ? "▾" : "▸"} 📁</span>{" "}
          <span className="tree-name">{entry.name}</span>
          {origin}
        </button>
        {open ? (
          <Directory
            view={view}
            path={entry.path}
            selected={selected}
            onSelect={onSelect}
            depth={depth + 1}
          />
        ) : null}
      </li>
    );
  }
  const current = selected === entry.path;
  return (
    <li className="tree-item">
      <button
        type="button"
        className={`tree-row${current ? " selected" : ""}`}
        aria-current={current ? "true" : undefined}
        aria-label={`File ${entry.name}, ${formatSize(entry.size)}${inherited ? `, inherited from the ${entry.origin.layer} layer` : ""}`}
        onClick={() => onSelect(entry)}
      >
        <span aria-hidden="true">📄</span> <span className="tree-name">{entry.name}</span>
        <span className="muted small">{formatSize(entry.size)}</span>
        {origin}
      </button>
    </li>
  );
}

/** The merged view of a layer as a tree; every entry says which layer it comes from. */
export function FileTree(props: Props) {
  return (
    <nav className="file-tree" aria-label="Files">
      <Directory {...props} path="" depth={0} />
    </nav>
  );
}
