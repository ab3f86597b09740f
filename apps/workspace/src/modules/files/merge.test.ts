import { describe, expect, it } from "vitest";
import { type LayerEntry, listDirectory, visibleEntries } from "./merge.js";

const at = (
  layer: LayerEntry["layer"],
  path: string,
  kind: LayerEntry["kind"] = "file",
  size = 1,
): LayerEntry => ({
  layer,
  layerId: `${layer}-id`,
  path,
  kind,
  fileId: `${layer}:${path}`,
  version: 1,
  etag: `${layer}:${path}`,
  size,
  contentType: kind === "file" ? "text/plain" : null,
  sha256: kind === "file" ? "0".repeat(64) : null,
  updatedAt: new Date(0),
});
const shown = (layers: LayerEntry[][]) =>
  visibleEntries(layers)
    .map((e) => `${e.layer}:${e.path}`)
    .sort();

describe("visibleEntries", () => {
  it("the nearest layer wins per path; directories merge", () => {
    const group = [at("chatgroup", "a"), at("chatgroup", "d", "dir"), at("chatgroup", "d/x")];
    const team = [at("team", "a"), at("team", "d", "dir"), at("team", "d/y")];
    const tenant = [at("tenant", "a"), at("tenant", "b"), at("tenant", "d", "dir"), at("tenant", "d/x")];
    expect(shown([group, team, tenant])).toEqual([
      "chatgroup:a",
      "chatgroup:d",
      "chatgroup:d/x",
      "team:d/y",
      "tenant:b",
    ]);
  });

  it("a whiteout hides the path and its whole subtree in the layers above, never its own layer's siblings", () => {
    const group = [at("chatgroup", "d", "whiteout"), at("chatgroup", "e/x")];
    const team = [at("team", "d", "dir"), at("team", "d/y"), at("team", "e", "dir")];
    const tenant = [at("tenant", "d/z"), at("tenant", "e", "whiteout")];
    expect(shown([group, team, tenant])).toEqual(["chatgroup:e/x", "team:e"]);
    expect(shown([team, tenant])).toEqual(["team:d", "team:d/y", "team:e", "tenant:d/z"]);
  });

  it("a nearer file shadows an inherited directory and its contents", () => {
    expect(shown([[at("chatgroup", "d")], [at("tenant", "d", "dir"), at("tenant", "d/x")]])).toEqual([
      "chatgroup:d",
    ]);
  });
});

describe("listDirectory", () => {
  it("lists children or descendants, sorted, with directory sizes from the files shown", () => {
    const rows = [
      at("team", "d", "dir"),
      at("team", "d/x", "file", 5),
      at("team", "d/e", "dir"),
      at("team", "d/e/y", "file", 7),
    ];
    expect(listDirectory(rows, "", false).map((e) => [e.path, e.size])).toEqual([["d", 12]]);
    expect(listDirectory(rows, "d", false).map((e) => [e.path, e.size])).toEqual([
      ["d/e", 7],
      ["d/x", 5],
    ]);
    expect(listDirectory(rows, "d", true).map((e) => e.path)).toEqual(["d/e", "d/e/y", "d/x"]);
  });
});
