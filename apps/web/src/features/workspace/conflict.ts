/**
 * Text editing against ETags: every save sends `If-Match` with the version the edit
 * started from. A 412 means someone else saved first; the editor then holds both texts
 * and the person chooses — nothing is ever overwritten silently.
 */
export type Snapshot = { text: string; etag: string };

export type EditorState =
  | { kind: "editing"; base: Snapshot; draft: string }
  | { kind: "saving"; base: Snapshot; draft: string }
  | { kind: "conflict"; base: Snapshot; draft: string; theirs: Snapshot }
  | { kind: "saved"; base: Snapshot; draft: string }
  | { kind: "failed"; base: Snapshot; draft: string; error: string };

/** How a save reaches the server (the page passes the workspace calls; tests pass a fake). */
export type SaveIo = {
  /** PUT with `If-Match: etag`; a 412 answers `{ conflict: true }`. */
  write(text: string, ifMatch: string): Promise<{ conflict: true } | { conflict: false; etag: string }>;
  /** The file as it is now (text and ETag). */
  read(): Promise<Snapshot>;
};

export function startEditing(base: Snapshot): EditorState {
  return { kind: "editing", base, draft: base.text };
}

export function edit(state: EditorState, draft: string): EditorState {
  if (state.kind === "saving") return state;
  if (state.kind === "conflict") return { ...state, draft };
  return { kind: "editing", base: state.base, draft };
}

export function isDirty(state: EditorState): boolean {
  return state.draft !== state.base.text;
}

/** Saves the draft on top of the version it was based on; a conflict fetches theirs. */
export async function save(
  state: EditorState,
  io: SaveIo,
  describe: (error: unknown) => string,
): Promise<EditorState> {
  if (state.kind === "saving" || state.kind === "conflict") return state;
  const { base, draft } = state;
  try {
    const result = await io.write(draft, base.etag);
    if (!result.conflict) return { kind: "saved", base: { text: draft, etag: result.etag }, draft };
    const theirs = await io.read();
    return { kind: "conflict", base, draft, theirs };
  } catch (error) {
    return { kind: "failed", base, draft, error: describe(error) };
  }
}

/**
 * The person's choice in a conflict. "mine" rebases the draft onto their version (the
 * next save replaces exactly that version, or conflicts again); "theirs" drops the draft.
 */
export function resolve(state: EditorState, choice: "mine" | "theirs"): EditorState {
  if (state.kind !== "conflict") return state;
  if (choice === "theirs") return startEditing(state.theirs);
  return { kind: "editing", base: state.theirs, draft: state.draft };
}
