import type { WorkspaceEntry } from "@perseus/contracts";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { describeError } from "../../api/errors.js";
import { formatSize } from "./file-tree.js";
import { type LayerRef, listVersions, readVersionText, restoreVersion } from "./workspace-api.js";

type Props = { entry: WorkspaceEntry; textual: boolean; onRestored: () => void };

/** Kept versions of a file in its own layer; a restore makes an old one current (If-Match). */
export function VersionsPanel({ entry, textual, onRestored }: Props) {
  const queryClient = useQueryClient();
  const ref: LayerRef = entry.origin;
  const [shown, setShown] = useState<{ version: number; text: string } | null>(null);
  const versions = useQuery({
    queryKey: ["workspace", "versions", ref.layer, ref.layerId, entry.path],
    queryFn: ({ signal }) => listVersions(ref, entry.path, signal),
  });
  const current = versions.data?.items.find((item) => item.isCurrent);
  const restore = useMutation({
    mutationFn: (version: number) => restoreVersion(ref, entry.path, version, current?.etag ?? entry.etag),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ["workspace"] });
      onRestored();
    },
  });
  const show = useMutation({
    mutationFn: async (version: number) => ({
      version,
      text: await readVersionText(ref, entry.path, version),
    }),
    onSuccess: setShown,
  });

  if (versions.isPending)
    return (
      <p role="status" className="muted small">
        Loading versions…
      </p>
    );
  if (versions.error)
    return (
      <p role="alert" className="field-error">
        {describeError(versions.error)}
      </p>
    );
  return (
    <section className="versions" aria-label={`Versions of ${entry.name}`}>
      <h3>Versions</h3>
      <ul className="version-list">
        {versions.data.items.map((item) => (
          <li key={item.version} className="version">
            <span>
              v{item.version} · {new Date(item.createdAt).toLocaleString()} · {formatSize(item.size)} ·{" "}
              {item.createdBy.type}
              {item.isCurrent ? " · current" : ""}
            </span>
            {textual ? (
              <button
                type="button"
                className="button button-ghost button-small"
                aria-label={`Show version ${item.version}`}
                onClick={() => show.mutate(item.version)}
              >
                Show
              </button>
            ) : null}
            {!item.isCurrent ? (
              <button
                type="button"
                className="button button-secondary button-small"
                disabled={restore.isPending}
                aria-label={`Restore version ${item.version}`}
                onClick={() => restore.mutate(item.version)}
              >
                Restore
              </button>
            ) : null}
          </li>
        ))}
      </ul>
      {shown ? (
        <figure className="version-preview">
          <figcaption className="small muted">Version {shown.version}</figcaption>
          <pre>{shown.text}</pre>
        </figure>
      ) : null}
      {restore.error || show.error ? (
        <p role="alert" className="field-error">
          {describeError(restore.error ?? show.error)}
        </p>
      ) : null}
    </section>
  );
}
