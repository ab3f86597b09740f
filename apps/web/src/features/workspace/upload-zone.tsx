import { workspaceRoutes } from "@perseus/contracts";
import { useQueryClient } from "@tanstack/react-query";
import { type DragEvent, useId, useRef, useState } from "react";
import { api } from "../../api/api.js";
import { describeError, isApiError } from "../../api/errors.js";
import { percent, targetPath, type Upload, updateUpload } from "./uploads.js";
import { type LayerRef, uploadFile, WORKSPACE } from "./workspace-api.js";

type Props = { layer: LayerRef; layerName: string };

/** Drag-and-drop (or pick) files into this layer, each with its own progress bar. */
export function UploadZone({ layer, layerName }: Props) {
  const queryClient = useQueryClient();
  const id = useId();
  const [folder, setFolder] = useState("");
  const [over, setOver] = useState(false);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const files = useRef(new Map<string, { file: File; abort: AbortController }>());
  const input = useRef<HTMLInputElement>(null);

  const patch = (uploadId: string, change: Partial<Upload>) =>
    setUploads((list) => updateUpload(list, uploadId, change));

  /** The file already at `path` in this layer, if any (its ETag is what a replace must match). */
  async function findExisting(path: string) {
    const slash = path.lastIndexOf("/");
    const tree = await api.call(WORKSPACE, workspaceRoutes.layerTree, {
      params: layer,
      query: { path: slash > 0 ? path.slice(0, slash) : "", recursive: "false" },
    });
    return tree.entries.find((entry) => entry.path === path && entry.kind === "file");
  }

  /**
   * A new file is sent with If-None-Match: *. Asking first spares sending a large body the
   * server would refuse (the precondition still guards against a concurrent creator).
   */
  async function create(upload: Upload, file: File) {
    files.current.set(upload.id, { file, abort: new AbortController() });
    try {
      if (await findExisting(upload.path)) {
        patch(upload.id, { state: "exists" });
        return;
      }
    } catch (error) {
      // A parent that does not exist yet is fine: the upload creates it.
      if (!(isApiError(error) && error.status === 404)) {
        patch(upload.id, { state: "failed", error: describeError(error) });
        return;
      }
    }
    await run(upload, file, null);
  }

  async function run(upload: Upload, file: File, replaceEtag: string | null) {
    const abort = new AbortController();
    files.current.set(upload.id, { file, abort });
    patch(upload.id, { state: "uploading", sent: 0, error: null });
    try {
      await uploadFile(layer, upload.path, file, {
        replaceEtag,
        signal: abort.signal,
        onProgress: (sent) => patch(upload.id, { sent }),
      });
      patch(upload.id, { state: "done", sent: upload.size });
      await queryClient.invalidateQueries({ queryKey: ["workspace"] });
    } catch (error) {
      if (abort.signal.aborted) patch(upload.id, { state: "cancelled" });
      else if (isApiError(error) && error.status === 412) patch(upload.id, { state: "exists" });
      else patch(upload.id, { state: "failed", error: describeError(error) });
    }
  }

  function start(list: FileList | File[]) {
    const added = [...list].map((file) => ({
      upload: {
        id: crypto.randomUUID(),
        name: file.name,
        path: targetPath(folder, file.name),
        size: file.size,
        sent: 0,
        state: "uploading" as const,
        error: null,
      },
      file,
    }));
    setUploads((current) => [...added.map((item) => item.upload), ...current].slice(0, 50));
    for (const item of added) void create(item.upload, item.file);
  }

  /** Replacing needs the current ETag of the file in this layer (If-Match), never a blind overwrite. */
  async function replace(upload: Upload) {
    const held = files.current.get(upload.id);
    if (!held) return;
    try {
      const existing = await findExisting(upload.path);
      await run(upload, held.file, existing?.etag ?? null);
    } catch (error) {
      patch(upload.id, { state: "failed", error: describeError(error) });
    }
  }

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setOver(false);
    if (event.dataTransfer.files.length) start(event.dataTransfer.files);
  };

  return (
    <section
      className={`upload-zone${over ? " over" : ""}`}
      aria-label={`Upload files to the ${layerName} layer`}
      onDragOver={(event) => {
        event.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <div className="upload-controls">
        <p className="upload-hint">
          Drop files here to upload them to <strong>{layerName}</strong>
        </p>
        <label htmlFor={`${id}-folder`} className="small">
          Folder
        </label>
        <input
          id={`${id}-folder`}
          className="upload-folder"
          value={folder}
          placeholder="(root)"
          onChange={(event) => setFolder(event.target.value)}
        />
        <button type="button" className="button button-secondary" onClick={() => input.current?.click()}>
          Upload files
        </button>
        <input
          ref={input}
          type="file"
          multiple
          hidden
          aria-label="Files to upload"
          onChange={(event) => {
            if (event.target.files?.length) start(event.target.files);
            event.target.value = "";
          }}
        />
      </div>
      {uploads.length ? (
        <ul className="upload-list" aria-label="Uploads">
          {uploads.map((upload) => (
            <li key={upload.id} className={`upload upload-${upload.state}`}>
              <span className="upload-name">{upload.path}</span>
              <progress
                max={100}
                value={percent(upload)}
                aria-label={`Upload of ${upload.name}`}
                aria-valuetext={`${percent(upload)}%`}
              />
              <span className="small" role="status">
                {upload.state === "uploading"
                  ? `${percent(upload)}%`
                  : upload.state === "done"
                    ? "Uploaded"
                    : upload.state === "exists"
                      ? "A file with this name exists"
                      : upload.state === "cancelled"
                        ? "Cancelled"
                        : `Failed: ${upload.error}`}
              </span>
              {upload.state === "uploading" ? (
                <button
                  type="button"
                  className="button button-ghost button-small"
                  aria-label={`Cancel the upload of ${upload.name}`}
                  onClick={() => files.current.get(upload.id)?.abort.abort()}
                >
                  Cancel
                </button>
              ) : null}
              {upload.state === "exists" ? (
                <button
                  type="button"
                  className="button button-ghost button-small"
                  aria-label={`Replace the existing ${upload.name}`}
                  onClick={() => void replace(upload)}
                >
                  Replace
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
