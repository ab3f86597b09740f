import { describe, expect, it } from "vitest";
import { contentTypeFor, ifMatchSatisfied, ifNoneMatchSatisfied, parseEtagList, parseRange } from "./http.js";

describe("conditional headers", () => {
  it("parses entity-tag lists and compares strongly for If-Match, weakly for If-None-Match", () => {
    expect(parseEtagList('"a", W/"b"')).toEqual([
      { weak: false, tag: "a" },
      { weak: true, tag: "b" },
    ]);
    expect(parseEtagList(" * ")).toBe("*");
    expect(parseEtagList("a")).toBeNull();
    expect(parseEtagList(undefined)).toBeUndefined();
    expect(ifMatchSatisfied(parseEtagList('W/"a"') ?? null, "a")).toBe(false);
    expect(ifMatchSatisfied(parseEtagList('"x", "a"') ?? null, "a")).toBe(true);
    expect(ifMatchSatisfied("*", null)).toBe(false);
    expect(ifNoneMatchSatisfied(parseEtagList('W/"a"') ?? null, "a")).toBe(false);
    expect(ifNoneMatchSatisfied("*", null)).toBe(true);
    expect(ifNoneMatchSatisfied("*", "a")).toBe(false);
  });
});

describe("parseRange", () => {
  it("handles first-last, open and suffix ranges, and refuses what lies outside", () => {
    expect(parseRange("bytes=0-4", 10)).toEqual({ kind: "partial", start: 0, end: 4 });
    expect(parseRange("bytes=5-", 10)).toEqual({ kind: "partial", start: 5, end: 9 });
    expect(parseRange("bytes=-3", 10)).toEqual({ kind: "partial", start: 7, end: 9 });
    expect(parseRange("bytes=-30", 10)).toEqual({ kind: "partial", start: 0, end: 9 });
    expect(parseRange("bytes=8-100", 10)).toEqual({ kind: "partial", start: 8, end: 9 });
    expect(parseRange("bytes=10-", 10)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=0-1,3-4", 10)).toEqual({ kind: "full" });
    expect(parseRange("items=0-1", 10)).toEqual({ kind: "full" });
    expect(parseRange(undefined, 10)).toEqual({ kind: "full" });
  });
});

describe("contentTypeFor", () => {
  it("keeps a sane declared type, guesses from the name otherwise", () => {
    expect(contentTypeFor("a.bin", "image/png")).toBe("image/png");
    expect(contentTypeFor("a.md", "application/octet-stream")).toBe("text/markdown; charset=utf-8");
    expect(contentTypeFor("a.json", "text/html\r\nx-evil: 1")).toBe("application/json");
    expect(contentTypeFor("noext", undefined)).toBe("application/octet-stream");
  });
});
