import { describe, expect, it } from "vitest";
import { edit, isDirty, resolve, type SaveIo, type Snapshot, save, startEditing } from "./conflict.js";

/** A file with a strong ETag per version, as the workspace keeps it. */
function fakeFile(initial: string) {
  let version = 1;
  let text = initial;
  const writes: string[] = [];
  const current = (): Snapshot => ({ text, etag: `"v${version}"` });
  const io: SaveIo = {
    async write(next, ifMatch) {
      if (ifMatch !== current().etag) return { conflict: true };
      version += 1;
      text = next;
      writes.push(next);
      return { conflict: false, etag: current().etag };
    },
    async read() {
      return current();
    },
  };
  const otherWriter = (next: string) => {
    version += 1;
    text = next;
  };
  return { io, current, writes, otherWriter };
}

const describeError = (error: unknown) => String(error);

describe("ETag conflict flow", () => {
  it("saves with If-Match of the version the edit started from", async () => {
    const file = fakeFile("hello");
    const saved = await save(edit(startEditing(file.current()), "hello world"), file.io, describeError);
    expect(saved.kind).toBe("saved");
    expect(saved.base).toEqual({ text: "hello world", etag: '"v2"' });
    expect(isDirty(saved)).toBe(false);
  });

  it("never overwrites a newer version: a 412 shows both texts", async () => {
    const file = fakeFile("line 1");
    const editing = edit(startEditing(file.current()), "line 1 — mine");
    file.otherWriter("line 1 — theirs");
    const conflict = await save(editing, file.io, describeError);
    expect(conflict).toEqual({
      kind: "conflict",
      base: { text: "line 1", etag: '"v1"' },
      draft: "line 1 — mine",
      theirs: { text: "line 1 — theirs", etag: '"v2"' },
    });
    expect(file.current().text).toBe("line 1 — theirs");
    expect(file.writes).toEqual([]);
  });

  it("keeping mine replaces exactly their version", async () => {
    const file = fakeFile("a");
    const editing = edit(startEditing(file.current()), "mine");
    file.otherWriter("theirs");
    const conflict = await save(editing, file.io, describeError);
    const rebased = resolve(edit(conflict, "mine, merged with theirs"), "mine");
    expect(rebased).toMatchObject({ kind: "editing", base: { etag: '"v2"' } });
    const saved = await save(rebased, file.io, describeError);
    expect(saved.kind).toBe("saved");
    expect(file.current().text).toBe("mine, merged with theirs");
  });

  it("keeping mine conflicts again when a third write came in meanwhile", async () => {
    const file = fakeFile("a");
    const editing = edit(startEditing(file.current()), "mine");
    file.otherWriter("theirs");
    const rebased = resolve(await save(editing, file.io, describeError), "mine");
    file.otherWriter("theirs again");
    const again = await save(rebased, file.io, describeError);
    expect(again.kind).toBe("conflict");
    expect(again.kind === "conflict" && again.theirs.text).toBe("theirs again");
  });

  it("taking theirs drops the draft", async () => {
    const file = fakeFile("a");
    const editing = edit(startEditing(file.current()), "mine");
    file.otherWriter("theirs");
    const taken = resolve(await save(editing, file.io, describeError), "theirs");
    expect(taken).toEqual({ kind: "editing", base: { text: "theirs", etag: '"v2"' }, draft: "theirs" });
    expect(isDirty(taken)).toBe(false);
  });

  it("keeps the draft when the save fails for another reason", async () => {
    const io: SaveIo = {
      write: () => Promise.reject(new Error("offline")),
      read: () => Promise.reject(new Error("unused")),
    };
    const failed = await save(
      edit(startEditing({ text: "a", etag: '"v1"' }), "b"),
      io,
      (e) => (e as Error).message,
    );
    expect(failed).toMatchObject({ kind: "failed", draft: "b", error: "offline" });
  });
});
