import type { Robot } from "@perseus/contracts";
import { describe, expect, it } from "vitest";
import {
  applyMention,
  findMentionQuery,
  invocableRobots,
  type MentionCandidate,
  mentionCandidates,
  rankCandidates,
} from "./mentions.js";

const people: MentionCandidate[] = [
  { kind: "user", id: "u1", handle: "alice", name: "Alice Martin" },
  { kind: "user", id: "u2", handle: "bob", name: "Bob Stone" },
  { kind: "robot", id: "r1", handle: "builder", name: "Build Robot" },
  { kind: "user", id: "u3", handle: "carla", name: "Carla Bianchi" },
];

describe("findMentionQuery", () => {
  it("finds the mention being typed at the caret", () => {
    expect(findMentionQuery("hi @al", 6)).toEqual({ start: 3, end: 6, query: "al" });
    expect(findMentionQuery("@", 1)).toEqual({ start: 0, end: 1, query: "" });
    expect(findMentionQuery("(@Bo", 4)).toEqual({ start: 1, end: 4, query: "bo" });
  });

  it("looks only at the text before the caret", () => {
    expect(findMentionQuery("hi @alice there", 6)).toEqual({ start: 3, end: 6, query: "al" });
    expect(findMentionQuery("hi @alice there", 12)).toBeNull();
  });

  it("ignores e-mail addresses, paths and code", () => {
    expect(findMentionQuery("mail me at a@bo", 15)).toBeNull();
    expect(findMentionQuery("see docs/@bo", 12)).toBeNull();
    expect(findMentionQuery("run `@bo", 8)).toBeNull();
    expect(findMentionQuery("```\n@bo", 7)).toBeNull();
    expect(findMentionQuery("`x` @bo", 7)).toEqual({ start: 4, end: 7, query: "bo" });
    expect(findMentionQuery("```\nx\n```\n@bo", 13)).toEqual({ start: 10, end: 13, query: "bo" });
  });

  it("refuses what cannot be a handle", () => {
    expect(findMentionQuery("@1ab", 4)).toBeNull();
    expect(findMentionQuery(`@${"a".repeat(33)}`, 34)).toBeNull();
  });
});

describe("rankCandidates", () => {
  it("puts handle prefixes before name words and substrings", () => {
    expect(rankCandidates(people, "b").map((c) => c.handle)).toEqual(["bob", "builder", "carla"]);
    expect(rankCandidates(people, "mar").map((c) => c.handle)).toEqual(["alice"]);
    expect(rankCandidates(people, "arl").map((c) => c.handle)).toEqual(["carla"]);
  });

  it("lists everyone for an empty query, up to the limit", () => {
    expect(rankCandidates(people, "", 3)).toHaveLength(3);
    expect(rankCandidates(people, "zzz")).toEqual([]);
  });
});

describe("applyMention", () => {
  it("replaces the partial handle and places the caret after it", () => {
    const text = "hi @bu please";
    const query = findMentionQuery(text, 6);
    if (!query) throw new Error("no query");
    const robot = people[2] as MentionCandidate;
    expect(applyMention(text, query, robot)).toEqual({ text: "hi @builder please", caret: 12 });
  });

  it("completes a handle typed in the middle of a word", () => {
    const query = findMentionQuery("@bobx", 2);
    if (!query) throw new Error("no query");
    expect(applyMention("@bobx", query, people[1] as MentionCandidate)).toEqual({ text: "@bob ", caret: 5 });
  });
});

describe("candidates", () => {
  const robot = (id: string, scopes: Partial<Robot["scopes"]>, revokedAt: string | null = null): Robot => ({
    id,
    handle: `robot-${id}`,
    name: `Robot ${id}`,
    description: "",
    capabilities: [],
    maxConcurrency: 1,
    scopes: { tenant: false, teamIds: [], chatgroupIds: [], ...scopes },
    configVersion: 1,
    revokedAt,
    createdAt: "2026-01-01T00:00:00.000Z",
  });

  it("offers only robots invocable in the chatgroup", () => {
    const robots = [
      robot("a", { tenant: true }),
      robot("b", { teamIds: ["team-1"] }),
      robot("c", { chatgroupIds: ["group-1"] }),
      robot("d", { teamIds: ["team-2"] }),
      robot("e", { tenant: true }, "2026-01-02T00:00:00.000Z"),
    ];
    expect(invocableRobots(robots, "group-1", "team-1").map((r) => r.id)).toEqual(["a", "b", "c"]);
  });

  it("leaves the caller out and marks robots", () => {
    const list = mentionCandidates(
      [
        { userId: "me", name: "Me", handle: "me" },
        { userId: "u2", name: "Bob", handle: "bob" },
      ],
      [robot("a", { tenant: true })],
      "me",
    );
    expect(list.map((c) => `${c.kind}:${c.handle}`)).toEqual(["user:bob", "robot:robot-a"]);
  });
});
