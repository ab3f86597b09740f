/** One upload in the list under the drop zone. */
export type Upload = {
  id: string;
  name: string;
  path: string;
  size: number;
  sent: number;
  state: "uploading" | "done" | "exists" | "failed" | "cancelled";
  error: string | null;
};

/** The workspace path for a dropped file in a folder ("" is the root). */
export function targetPath(folder: string, name: string): string {
  const clean = folder.trim().replace(/^\/+|\/+$/g, "");
  return clean ? `${clean}/${name}` : name;
}

export function percent(upload: Pick<Upload, "sent" | "size">): number {
  if (upload.size <= 0) return 100;
  return Math.min(100, Math.round((upload.sent / upload.size) * 100));
}

export function updateUpload(list: Upload[], id: string, change: Partial<Upload>): Upload[] {
  return list.map((upload) => (upload.id === id ? { ...upload, ...change } : upload));
}
