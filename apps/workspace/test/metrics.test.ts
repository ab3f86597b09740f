import { randomUUID } from "node:crypto";
import { scrapeMetrics } from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, createWorld, type Harness } from "./helper.js";

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

describe("workspace metrics", () => {
  it("labels file requests by route pattern and status class, never by ids or paths", async () => {
    const w = await createWorld(h);
    const headers = { authorization: `Bearer ${w.ownerToken}` };
    const chatgroups = [w.chatgroupId, randomUUID(), randomUUID()];
    for (const id of chatgroups) {
      await h.app.inject({
        method: "GET",
        url: `/api/workspace/views/chatgroup/${id}/files?path=docs/${randomUUID()}.md`,
        headers,
      });
    }

    const scrape = await scrapeMetrics(h.app); // the exposition parses as Prometheus text
    expect(scrape.names().filter((name) => !name.startsWith("perseus_"))).toEqual([]);
    expect(scrape.family("perseus_http_request_duration_seconds")?.type).toBe("HISTOGRAM");

    const histogram = h.app.metrics.getSingleMetric("perseus_http_request_duration_seconds");
    const counts = (((await histogram?.get())?.values ?? []) as Sample[]).filter(
      (sample) => sample.metricName === "perseus_http_request_duration_seconds_count",
    );
    const files = counts.filter((sample) => String(sample.labels.route).includes("/files"));
    expect(files.reduce((sum, sample) => sum + sample.value, 0)).toBe(chatgroups.length);
    for (const sample of files) {
      expect(sample.labels.route).toMatch(/:[A-Za-z]+/);
      expect(["2xx", "4xx"]).toContain(sample.labels.status_class);
    }
    const labelText = JSON.stringify(counts.map((sample) => sample.labels));
    for (const id of chatgroups) expect(labelText).not.toContain(id);
    expect(labelText).not.toContain("docs/");
  });
});
