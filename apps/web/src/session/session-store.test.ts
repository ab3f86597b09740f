import type { SessionResponse } from "@perseus/contracts";
import { describe, expect, it } from "vitest";
import { createSessionStore } from "./session-store.js";

const T0 = Date.parse("2026-01-01T00:00:00Z");

function session(token: string, expiresInMs: number, now: number): SessionResponse {
  return {
    accessToken: token,
    tokenType: "Bearer",
    expiresAt: new Date(now + expiresInMs).toISOString(),
    sessionId: "0190c6a4-5d2e-7b4a-9c3f-2e8d1a6b7c90",
    user: {
      id: "0190c6a4-5d2e-7b4a-9c3f-2e8d1a6b7c91",
      email: "ada@example.com",
      name: "Ada",
      handle: "ada",
    },
    tenant: { id: "0190c6a4-5d2e-7b4a-9c3f-2e8d1a6b7c92", name: "Acme", role: "admin" },
  };
}

class Refused extends Error {}

/** A store on a hand-driven clock and timer queue, with a scripted refresh endpoint. */
function harness(answers: Array<(now: number) => SessionResponse | Error>) {
  let now = T0;
  let calls = 0;
  const timers = new Map<number, { at: number; run: () => void }>();
  let nextTimer = 1;
  const pending: Array<() => void> = [];
  const store = createSessionStore({
    refresh: () => {
      const answer = answers[calls++];
      if (!answer) return Promise.reject(new Error("no scripted answer"));
      // Resolved by `flush`, so tests can observe requests in flight.
      return new Promise((resolve, reject) => {
        pending.push(() => {
          const value = answer(now);
          if (value instanceof Error) reject(value);
          else resolve(value);
        });
      });
    },
    isSignedOutError: (error) => error instanceof Refused,
    now: () => now,
    setTimer: (run, ms) => {
      const id = nextTimer++;
      timers.set(id, { at: now + ms, run });
      return id;
    },
    clearTimer: (id) => timers.delete(id as number),
    marginMs: 60_000,
  });
  return {
    store,
    calls: () => calls,
    timers,
    async flush() {
      while (pending.length) pending.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
    /** Moves the clock and fires the timers that came due. */
    advance(ms: number) {
      now += ms;
      for (const [id, timer] of [...timers]) {
        if (timer.at <= now) {
          timers.delete(id);
          timer.run();
        }
      }
    },
  };
}

describe("session store", () => {
  it("signs in on load through the refresh cookie and refreshes a minute before expiry", async () => {
    const h = harness([(now) => session("a", 15 * 60_000, now), (now) => session("b", 15 * 60_000, now)]);
    expect(h.store.getSnapshot().status).toBe("loading");
    const ready = h.store.ready();
    await h.flush();
    expect((await ready)?.accessToken).toBe("a");
    expect(h.store.getSnapshot().status).toBe("signed-in");

    h.advance(13 * 60_000);
    expect(h.calls()).toBe(1); // not yet: 14 min is the moment
    h.advance(60_000);
    expect(h.calls()).toBe(2);
    await h.flush();
    expect(h.store.getAccessToken()).toBe("b");
  });

  it("ends in signed-out when there is no refresh cookie", async () => {
    const h = harness([() => new Refused("no cookie")]);
    const ready = h.store.ready();
    await h.flush();
    expect(await ready).toBeNull();
    expect(h.store.getSnapshot()).toEqual({ status: "signed-out", session: null });
  });

  it("shares one refresh between concurrent 401s and retries only with a newer token", async () => {
    const h = harness([(now) => session("a", 600_000, now), (now) => session("b", 600_000, now)]);
    void h.store.start();
    await h.flush();

    const first = h.store.recover("a");
    const second = h.store.recover("a");
    await h.flush();
    expect(await first).toBe(true);
    expect(await second).toBe(true);
    expect(h.calls()).toBe(2); // one refresh for both

    // A 401 for a request that left with an old token: the newer one is retried, no refresh.
    expect(await h.store.recover("a")).toBe(true);
    expect(h.calls()).toBe(2);
  });

  it("signs out when the refresh is refused, and keeps the session through an outage", async () => {
    const h = harness([
      (now) => session("a", 600_000, now),
      () => new Error("edge unreachable"),
      () => new Refused("revoked"),
    ]);
    void h.store.start();
    await h.flush();

    const outage = h.store.recover("a");
    await h.flush();
    expect(await outage).toBe(false);
    expect(h.store.getSnapshot().status).toBe("signed-in");
    expect(h.timers.size).toBe(1); // a later retry is scheduled

    const refused = h.store.recover("a");
    await h.flush();
    expect(await refused).toBe(false);
    expect(h.store.getSnapshot().status).toBe("signed-out");
    expect(h.timers.size).toBe(0);
  });

  it("notifies subscribers and forgets everything on sign-out", async () => {
    const h = harness([]);
    const seen: string[] = [];
    const unsubscribe = h.store.subscribe(() => seen.push(h.store.getSnapshot().status));
    h.store.signIn(session("x", 600_000, T0));
    h.store.signOut();
    unsubscribe();
    h.store.signIn(session("y", 600_000, T0));
    expect(seen).toEqual(["signed-in", "signed-out"]);
    expect(h.store.getAccessToken()).toBe("y");
  });
});
