import type { WorkspaceEntry } from "@perseus/contracts";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { describeError } from "../../api/errors.js";
import { Markdown } from "../chat/markdown.js";
import { formatSize } from "./file-tree.js";
import { TextEditor } from "./text-editor.js";
import { VersionsPanel } from "./versions-panel.js";
import {
  download,
  isMarkdown,
  type LayerRef,
  PREVIEW_LIMIT,
  readLayerText,
  readPreview,
  writeText,
} from "./workspace-api.js";

type Props = { view: LayerRef; entry: WorkspaceEntry };

/** A selected file: preview (text, markdown, image), download, edit with ETags, versions. */
export function FilePanel({ view, entry }: Props) {
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState(false);
  const [showVersions, setShowVersions] = useState(false);
  const previewable = entry.size <= PREVIEW_LIMIT;
  const preview = useQuery({
    queryKey: ["workspace", "preview", view.layer, view.layerId, entry.path, entry.etag],
    enabled: previewable,
    queryFn: ({ signal }) => readPreview(view, entry, signal),
    staleTime: Number.POSITIVE_INFINITY,
    placeholderData: keepPreviousData,
  });
  const save = useMutation({ mutationFn: () => download(view, entry) });
  const inherited = entry.origin.layer !== view.layer;
  const data = preview.data;

  const refresh = () => queryClient.invalidateQueries({ queryKey: ["workspace"] });

  return (
    <section className="file-panel" aria-label={`File ${entry.path}`}>
      <header className="file-head">
        <h2>{entry.name}</h2>
        <p className="muted small">
          {entry.path} · {formatSize(entry.size)} · v{entry.version} · {entry.contentType ?? "unknown type"} ·{" "}
          <span className={`layer-mark layer-${entry.origin.layer}`}>
            {inherited
              ? `inherited from the ${entry.origin.layer} layer`
              : `in the ${entry.origin.layer} layer`}
          </span>
        </p>
        <div className="actions">
          <button
            type="button"
            className="button button-secondary"
            disabled={save.isPending}
            onClick={() => save.mutate()}
          >
            {save.isPending ? "Downloading…" : "Download"}
          </button>
          {data?.kind === "text" && !editing ? (
            <button type="button" className="button button-secondary" onClick={() => setEditing(true)}>
              Edit
            </button>
          ) : null}
          <button
            type="button"
            className="button button-ghost"
            aria-expanded={showVersions}
            onClick={() => setShowVersions((value) => !value)}
          >
            Versions
          </button>
        </div>
        {inherited && editing ? (
          <p className="muted small">
            Saving changes this file in the {entry.origin.layer} layer, for everyone who inherits it.
          </p>
        ) : null}
      </header>
      {save.error ? (
        <p role="alert" className="field-error">
          {describeError(save.error)}
        </p>
      ) : null}
      {showVersions ? (
        <VersionsPanel entry={entry} textual={data?.kind === "text"} onRestored={() => setEditing(false)} />
      ) : null}
      {!previewable ? (
        <p className="muted">This file is too large to preview; download it instead.</p>
      ) : preview.isPending ? (
        <p role="status" className="muted">
          Loading preview…
        </p>
      ) : preview.error ? (
        <p role="alert" className="alert alert-error">
          {describeError(preview.error)}
        </p>
      ) : data?.kind === "text" && editing ? (
        <TextEditor
          key={entry.path}
          name={entry.name}
          initial={{ text: data.text, etag: data.etag }}
          io={{
            write: (text, ifMatch) => writeText(entry.origin, entry.path, text, ifMatch, data.contentType),
            read: () => readLayerText(entry.origin, entry.path),
          }}
          onSaved={() => void refresh()}
          onClose={() => setEditing(false)}
        />
      ) : data?.kind === "text" ? (
        isMarkdown(data.contentType, entry.path) ? (
          <div className="preview preview-markdown">
            <Markdown text={data.text} />
          </div>
        ) : (
          // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take focus so keyboards can scroll it
          <pre className="preview preview-text" tabIndex={0} title={`Content of ${entry.name}`}>
            {data.text}
          </pre>
        )
      ) : data?.kind === "image" ? (
        <img className="preview preview-image" src={data.dataUrl} alt={`Preview of ${entry.name}`} />
      ) : (
        <p className="muted">No preview for this type of file; download it instead.</p>
      )}
    </section>
  );
}
