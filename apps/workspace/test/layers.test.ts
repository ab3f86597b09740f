import { WorkspaceTreeResponse } from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addUser,
  client,
  createChatgroup,
  createHarness,
  createRobotTask,
  createTeam,
  createWorld,
  endLease,
  type Harness,
} from "./helper.js";

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h?.close());

const entries = (body: unknown) =>
  WorkspaceTreeResponse.parse(body).entries.map((e) => `${e.path}@${e.origin.layer}:${e.kind}:${e.size}`);

describe("layers: the effective view", () => {
  it("merges chatgroup ⊕ team ⊕ tenant, nearest wins, shows origins; whiteouts hide inherited entries", async () => {
    const w = await createWorld(h);
    const c = client(h.app, w.ownerToken);
    const tenant = { layer: "tenant" as const, layerId: w.tenantId };
    const team = { layer: "team" as const, layerId: w.teamId };
    const group = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    expect((await c.put(tenant, "README.md", "tenant readme")).statusCode).toBe(201);
    expect((await c.put(tenant, "policy/rules.md", "rules")).statusCode).toBe(201);
    expect((await c.put(tenant, "policy/old.md", "old")).statusCode).toBe(201);
    expect((await c.put(team, "README.md", "team readme!")).statusCode).toBe(201);
    expect((await c.put(team, "policy/team.md", "team")).statusCode).toBe(201);
    expect((await c.put(group, "notes.txt", "group")).statusCode).toBe(201);
    expect((await c.put(group, "policy/rules.md", "group rules")).statusCode).toBe(201);

    const view = await c.tree(group, "", true);
    expect(view.statusCode).toBe(200);
    expect(entries(view.json())).toEqual([
      "README.md@team:file:12",
      "notes.txt@chatgroup:file:5",
      "policy@chatgroup:dir:18",
      "policy/old.md@tenant:file:3",
      "policy/rules.md@chatgroup:file:11",
      "policy/team.md@team:file:4",
    ]);
    expect((await c.read(group, "README.md")).body).toBe("team readme!");
    expect((await c.read(group, "policy/rules.md")).body).toBe("group rules");
    expect((await c.read(team, "policy/rules.md")).body).toBe("rules");
    // A team view does not see the chatgroup's layer.
    expect(entries((await c.tree(team, "", true)).json())).toEqual([
      "README.md@team:file:12",
      "policy@team:dir:12",
      "policy/old.md@tenant:file:3",
      "policy/rules.md@tenant:file:5",
      "policy/team.md@team:file:4",
    ]);

    // Whiteout a file and a whole inherited directory.
    expect((await c.whiteout(group, "README.md")).statusCode).toBe(201);
    expect((await c.whiteout(group, "README.md")).statusCode).toBe(200);
    expect((await c.whiteout(group, "nothing-here")).statusCode).toBe(404);
    expect((await c.whiteout(group, "notes.txt")).statusCode).toBe(409);
    expect((await c.whiteout(tenant, "README.md")).statusCode).toBe(400);
    expect((await c.read(group, "README.md")).statusCode).toBe(404);
    expect((await c.read(team, "README.md")).statusCode).toBe(200);
    // The team has its own policy/ directory: it must go before the inherited one can be hidden.
    expect((await c.whiteout(team, "policy")).statusCode).toBe(409);
    const teamPolicy = WorkspaceTreeResponse.parse(
      (await c.tree(team, "", false, "layers")).json(),
    ).entries.find((e) => e.path === "policy");
    expect((await c.del(team, "policy", teamPolicy?.etag, true)).statusCode).toBe(200);
    expect((await c.whiteout(team, "policy")).statusCode).toBe(201);
    expect(entries((await c.tree(team, "", true)).json())).toEqual(["README.md@team:file:12"]);
    // The chatgroup's own policy/ stays; inherited ones below it are hidden by the team's whiteout.
    expect(entries((await c.tree(group, "policy")).json())).toEqual(["policy/rules.md@chatgroup:file:11"]);
    // The layer listing shows whiteouts themselves.
    const layer = await c.tree(group, "", false, "layers");
    expect(entries(layer.json())).toEqual([
      "README.md@chatgroup:whiteout:0",
      "notes.txt@chatgroup:file:5",
      "policy@chatgroup:dir:11",
    ]);
    // Deleting the whiteout brings the inherited file back.
    const whiteout = WorkspaceTreeResponse.parse(layer.json()).entries[0];
    expect((await c.del(group, "README.md", whiteout?.etag)).statusCode).toBe(200);
    expect((await c.read(group, "README.md")).body).toBe("team readme!");
  });

  it("a nearer file shadows an inherited directory and everything below it", async () => {
    const w = await createWorld(h);
    const c = client(h.app, w.ownerToken);
    await c.put({ layer: "tenant", layerId: w.tenantId }, "lib/a.txt", "a");
    await c.put({ layer: "chatgroup", layerId: w.chatgroupId }, "lib", "now a file");
    const view = await c.tree({ layer: "chatgroup", layerId: w.chatgroupId }, "", true);
    expect(entries(view.json())).toEqual(["lib@chatgroup:file:10"]);
    expect((await c.read({ layer: "chatgroup", layerId: w.chatgroupId }, "lib/a.txt")).statusCode).toBe(404);
  });

  it("copies from a readable view into a layer (copy-up) and shares the bytes", async () => {
    const w = await createWorld(h);
    const c = client(h.app, w.ownerToken);
    const group = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    await c.put({ layer: "tenant", layerId: w.tenantId }, "templates/plan.md", "# Plan");
    const copied = await c.copy(group, { ...group, path: "templates/plan.md" }, "plan.md");
    expect(copied.statusCode).toBe(201);
    expect(copied.json()).toMatchObject({ path: "plan.md", size: 6, origin: { layer: "chatgroup" } });
    expect((await c.read(group, "plan.md")).body).toBe("# Plan");
    expect((await c.copy(group, { ...group, path: "templates/plan.md" }, "plan.md")).statusCode).toBe(412);
    expect((await c.copy(group, { ...group, path: "templates/missing.md" }, "x.md")).statusCode).toBe(404);
  });
});

describe("layers: who may read and write", () => {
  it("tenant layer: members read, owners/admins write; team layer: team members; chatgroup: its readers", async () => {
    const w = await createWorld(h);
    const otherTeam = await createTeam(h.db, w.tenantId);
    const privateGroup = await createChatgroup(h.db, w.tenantId, w.teamId, "private");
    const admin = await addUser(h, w.tenantId, "admin");
    const member = await addUser(h, w.tenantId, "user", [w.teamId]);
    const outsider = await addUser(h, w.tenantId, "user", [otherTeam]);
    const invited = await addUser(h, w.tenantId, "user", [], [privateGroup]);
    const tenant = { layer: "tenant" as const, layerId: w.tenantId };
    const team = { layer: "team" as const, layerId: w.teamId };
    const group = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    const secret = { layer: "chatgroup" as const, layerId: privateGroup };

    expect((await client(h.app, admin.token).put(tenant, "by-admin.txt", "a")).statusCode).toBe(201);
    const denied = await client(h.app, member.token).put(tenant, "by-user.txt", "u");
    expect(denied.statusCode).toBe(403);
    expect((await client(h.app, member.token).read(tenant, "by-admin.txt")).statusCode).toBe(200);
    expect((await client(h.app, outsider.token).read(tenant, "by-admin.txt")).statusCode).toBe(200);

    expect((await client(h.app, member.token).put(team, "t.txt", "t")).statusCode).toBe(201);
    expect((await client(h.app, outsider.token).put(team, "t2.txt", "t")).statusCode).toBe(404);
    expect((await client(h.app, outsider.token).tree(team)).statusCode).toBe(404);
    // Owners and admins are not team members implicitly.
    expect((await client(h.app, admin.token).tree(team)).statusCode).toBe(404);

    expect((await client(h.app, member.token).put(group, "g.txt", "g")).statusCode).toBe(201);
    expect((await client(h.app, outsider.token).read(group, "g.txt")).statusCode).toBe(404);
    expect((await client(h.app, member.token).put(secret, "s.txt", "s")).statusCode).toBe(404);
    expect((await client(h.app, invited.token).put(secret, "s.txt", "s")).statusCode).toBe(201);
    // The private chatgroup's view includes its team's layer, even for a member outside the team.
    expect((await client(h.app, invited.token).read(secret, "t.txt")).body).toBe("t");
    expect((await client(h.app, w.ownerToken).read(secret, "s.txt")).statusCode).toBe(404);

    // A member who leaves the tenant loses every layer at once (their token is still valid).
    await withTenant(h.db, { tenantId: w.tenantId }, (tx) =>
      tx.delete(schema.memberships).where(eq(schema.memberships.userId, member.id)),
    );
    for (const ref of [tenant, team, group])
      expect((await client(h.app, member.token).tree(ref)).statusCode, ref.layer).toBe(404);
  });

  it("robots: only with a live task token, only the task's chatgroup view", async () => {
    const w = await createWorld(h);
    const otherGroup = await createChatgroup(h.db, w.tenantId, w.teamId);
    const owner = client(h.app, w.ownerToken);
    await owner.put({ layer: "tenant", layerId: w.tenantId }, "shared.md", "from tenant");
    await owner.put({ layer: "chatgroup", layerId: otherGroup }, "other.md", "other");
    const task = await createRobotTask(h, w.tenantId, w.chatgroupId);
    const robot = client(h.app, task.taskToken);
    const group = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    expect((await robot.read(group, "shared.md")).body).toBe("from tenant");
    expect((await robot.put(group, "out.txt", "result")).statusCode).toBe(201);
    expect((await robot.copy(group, { ...group, path: "shared.md" }, "copy.md")).statusCode).toBe(201);
    for (const ref of [
      { layer: "chatgroup" as const, layerId: otherGroup },
      { layer: "team" as const, layerId: w.teamId },
      { layer: "tenant" as const, layerId: w.tenantId },
    ]) {
      expect((await robot.tree(ref)).statusCode).toBe(404);
      expect((await robot.read(ref, "shared.md", {}, "layers")).statusCode).toBe(404);
      expect((await robot.put(ref, "x.txt", "x")).statusCode).toBe(404);
      expect((await robot.copy(group, { ...ref, path: "other.md" }, "stolen.md")).statusCode).toBe(404);
    }
    // A plain robot token gets nothing.
    const plain = await client(h.app, task.robotToken).tree(group);
    expect(plain.statusCode).toBe(403);
    // When the lease ends the token is dead.
    await endLease(h, w.tenantId, task.taskId);
    expect((await robot.tree(group)).statusCode).toBe(401);
    expect((await robot.put(group, "late.txt", "late")).statusCode).toBe(401);
    const forged = `ptt_${w.tenantId}_${task.taskId}_${"A".repeat(43)}`;
    expect((await client(h.app, forged).tree(group)).statusCode).toBe(401);
    expect((await client(h.app, "ptt_garbage").tree(group)).statusCode).toBe(401);
  });
});
