import http from "node:http";
import type { AddressInfo } from "node:net";
import { schema } from "@perseus/db";
import type { LightMyRequestResponse } from "fastify";
import Provider from "oidc-provider";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API, cookieHeader, createHarness, type Harness, refreshCookieOf, signup } from "./helper.js";

// OIDC sign-in (authorization code + PKCE) against a real oidc-provider started here.
const REDIRECT_URI = "http://127.0.0.1:7700/api/auth/oidc/callback";
const CLIENT = { id: "perseus-test", secret: "a-test-client-secret-of-some-length" };
let h: Harness;
let server: http.Server;
let issuer: string;
const accounts = new Map<string, { email: string; verified: boolean }>();
let nextAccount = "";

beforeAll(async () => {
  server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT.id,
        client_secret: CLIENT.secret,
        redirect_uris: [REDIRECT_URI],
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    findAccount: async (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: async () => ({
        sub: id,
        email: accounts.get(id)?.email,
        email_verified: accounts.get(id)?.verified,
      }),
    }),
    claims: { openid: ["sub"], email: ["email", "email_verified"] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    cookies: { keys: ["perseus-oidc-test-cookie-key"] },
  });
  const callback = provider.callback();
  // The "login page": signs in `nextAccount` and grants the requested scopes without a form.
  server.on("request", async (req, res) => {
    if (!req.url?.startsWith("/interaction/")) return callback(req, res);
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === "login") {
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: nextAccount } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const grant = new provider.Grant({ accountId: String(details.session?.accountId), clientId: CLIENT.id });
    grant.addOIDCScope("openid email profile");
    await provider.interactionFinished(
      req,
      res,
      { consent: { grantId: await grant.save() } },
      { mergeWithLastSubmission: true },
    );
  });
  h = await createHarness({
    AUTH_OIDC_ISSUER: issuer,
    AUTH_OIDC_CLIENT_ID: CLIENT.id,
    AUTH_OIDC_CLIENT_SECRET: CLIENT.secret,
  });
});
afterAll(async () => {
  await h?.close();
  await new Promise((resolve) => server?.close(resolve));
});

/** Follows the provider's redirects like a browser until it sends us back to the callback. */
async function browse(start: string): Promise<URL> {
  const jar = new Map<string, string>();
  let current = start;
  for (let hop = 0; hop < 12; hop++) {
    if (current.startsWith(REDIRECT_URI)) return new URL(current);
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const response = await fetch(current, { redirect: "manual", headers: cookie ? { cookie } : {} });
    for (const set of response.headers.getSetCookie()) {
      const [pair] = set.split(";");
      const at = (pair as string).indexOf("=");
      jar.set((pair as string).slice(0, at), (pair as string).slice(at + 1));
    }
    const location = response.headers.get("location");
    if (!location)
      throw new Error(`no redirect from ${current}: ${response.status} ${await response.text()}`);
    current = new URL(location, current).toString();
  }
  throw new Error("too many redirects");
}

async function startFlow(account: string) {
  nextAccount = account;
  const start = await h.app.inject({ method: "GET", url: `${API}/oidc/start` });
  expect(start.statusCode).toBe(302);
  const location = new URL(String(start.headers.location));
  expect(location.searchParams.get("code_challenge_method")).toBe("S256");
  const stateCookie = start.cookies.find((c) => c.name === "perseus_oidc")?.value as string;
  const back = await browse(location.toString());
  return { back, stateCookie };
}

const callback = (back: URL, stateCookie?: string, mutate: (q: URLSearchParams) => void = () => {}) => {
  const query = new URLSearchParams(back.search);
  mutate(query);
  return h.app.inject({
    method: "GET",
    url: `${API}/oidc/callback?${query}`,
    headers: stateCookie ? { cookie: `perseus_oidc=${stateCookie}` } : {},
  });
};

const sessionOf = async (response: LightMyRequestResponse) =>
  (
    await h.app.inject({
      method: "POST",
      url: `${API}/refresh`,
      headers: cookieHeader(refreshCookieOf(response) as string),
    })
  ).json();

describe("OIDC sign-in", () => {
  it("links a verified email to its account, signs in, and later finds the identity by subject", async () => {
    const owner = await signup(h.app);
    accounts.set("alice", { email: owner.body.email, verified: true });
    const { back, stateCookie } = await startFlow("alice");
    expect(back.searchParams.get("code")).toBeTruthy();
    const done = await callback(back, stateCookie);
    expect(done.statusCode).toBe(302);
    expect(done.headers.location).toBe("http://127.0.0.1:7700/");
    const session = await sessionOf(done);
    expect(session.user.id).toBe(owner.session.user.id);
    expect(session.tenant.id).toBe(owner.session.tenant.id);
    const identities = await h.database.db.select().from(schema.oidcIdentities);
    expect(identities).toContainEqual(
      expect.objectContaining({ issuer, subject: "alice", userId: owner.session.user.id }),
    );
    // The provider's email may change later: the subject still finds the user.
    accounts.set("alice", { email: "changed@example.test", verified: true });
    const again = await startFlow("alice");
    expect((await sessionOf(await callback(again.back, again.stateCookie))).user.id).toBe(
      owner.session.user.id,
    );
  });

  it("refuses an unknown person, an unverified email, a replayed code, and state mismatches", async () => {
    accounts.set("stranger", { email: "stranger@example.test", verified: true });
    const stranger = await startFlow("stranger");
    expect((await callback(stranger.back, stranger.stateCookie)).statusCode).toBe(403);

    const owner = await signup(h.app);
    accounts.set("unverified", { email: owner.body.email, verified: false });
    const unverified = await startFlow("unverified");
    expect((await callback(unverified.back, unverified.stateCookie)).statusCode).toBe(401);

    accounts.set("bob", { email: owner.body.email, verified: true });
    const bob = await startFlow("bob");
    expect((await callback(bob.back)).statusCode).toBe(401); // no state cookie
    expect((await callback(bob.back, bob.stateCookie, (q) => q.set("state", "forged"))).statusCode).toBe(401);
    expect((await callback(bob.back, `${bob.stateCookie}x`)).statusCode).toBe(401); // tampered cookie
    const ok = await callback(bob.back, bob.stateCookie);
    expect(ok.statusCode).toBe(302);
    expect((await callback(bob.back, bob.stateCookie)).statusCode).toBe(401); // the code is single-use
  });
});
