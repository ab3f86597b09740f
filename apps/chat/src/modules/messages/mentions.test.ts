import { describe, expect, it } from "vitest";
import { MAX_MENTIONS, parseMentions } from "./mentions.js";

describe("parseMentions", () => {
  it("finds handles in order, once each, lower-cased", () => {
    expect(parseMentions("@jane please ask @Bob and @jane again")).toEqual(["jane", "bob"]);
  });

  it("ignores inline code spans and fenced code blocks", () => {
    const body = [
      "ping `@inline` and ``@double `tick` span``",
      "```ts",
      "const x = '@fenced';",
      "```",
      "~~~",
      "@tilde",
      "~~~",
      "but @real counts",
    ].join("\n");
    expect(parseMentions(body)).toEqual(["real"]);
  });

  it("treats an unclosed fence as code to the end", () => {
    expect(parseMentions("@before\n```\n@inside")).toEqual(["before"]);
  });

  it("does not take e-mail addresses, paths or handles glued to words", () => {
    expect(parseMentions("mail bob@example.com, see /a/@b and x@y; (@ok) @ok2.")).toEqual(["ok", "ok2"]);
  });

  it("respects the handle grammar", () => {
    expect(parseMentions(`@a @1x @jane-doe- @j_d @${"x".repeat(40)}`)).toEqual(["jane-doe", "j_d"]);
  });

  it("caps the number of mentions", () => {
    const body = Array.from({ length: MAX_MENTIONS + 10 }, (_, i) => `@user${i}`).join(" ");
    expect(parseMentions(body)).toHaveLength(MAX_MENTIONS);
  });
});
