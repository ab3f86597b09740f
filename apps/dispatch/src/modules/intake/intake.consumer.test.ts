import { describe, expect, it } from "vitest";
import { promptFor } from "./intake.consumer.js";

describe("promptFor", () => {
  it("drops the invoked robot's leading mention and the punctuation after it", () => {
    expect(promptFor("@jane echo hi", "jane")).toBe("echo hi");
    expect(promptFor("  @jane, run the tests", "jane")).toBe("run the tests");
    expect(promptFor("@Jane: deploy", "jane")).toBe("deploy");
  });

  it("keeps everything else, including other mentions and a handle that only starts the same", () => {
    expect(promptFor("please @jane look at this", "jane")).toBe("please @jane look at this");
    expect(promptFor("@janet do it", "jane")).toBe("@janet do it");
    expect(promptFor("@jane ask @bob", "jane")).toBe("ask @bob");
  });

  it("keeps a message that is only the mention", () => {
    expect(promptFor("@jane", "jane")).toBe("@jane");
  });
});
