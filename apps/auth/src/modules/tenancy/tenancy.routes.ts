import { ForbiddenError } from "@perseus/kit";
import type { AuthConfig } from "../../config.js";
import { actingUserId, contextOf, originOf } from "../../lib/context.js";
import { type Handlers, requireUser } from "../../lib/handlers.js";
import { createCookieJar } from "../sessions/sessions.routes.js";
import type { SessionsService } from "../sessions/sessions.service.js";
import type { GroupsService } from "./groups.service.js";
import type { InvitesService } from "./invites.service.js";
import type { MembersService } from "./members.service.js";

type TenancyRoutes =
  | "getTenant"
  | "updateTenant"
  | "transferOwnership"
  | "leaveTenant"
  | "listMembers"
  | "getMember"
  | "updateMember"
  | "removeMember"
  | "disableMember"
  | "enableMember"
  | "listTeams"
  | "createTeam"
  | "getTeam"
  | "updateTeam"
  | "archiveTeam"
  | "listTeamMembers"
  | "addTeamMember"
  | "removeTeamMember"
  | "listChatgroups"
  | "createChatgroup"
  | "getChatgroup"
  | "updateChatgroup"
  | "archiveChatgroup"
  | "listChatgroupMembers"
  | "addChatgroupMember"
  | "removeChatgroupMember"
  | "listInvites"
  | "createInvite"
  | "revokeInvite"
  | "acceptInvite"
  | "acceptInviteSignup";

export function tenancyHandlers(services: {
  members: MembersService;
  groups: GroupsService;
  invites: InvitesService;
  sessions: SessionsService;
  config: AuthConfig;
}): Handlers<TenancyRoutes> {
  const { members, groups, invites, sessions } = services;
  const cookies = createCookieJar(services.config);
  const done = (reply: { code(status: number): unknown }) => {
    reply.code(204);
    return null;
  };
  return {
    getTenant: ({ actor, request }) => members.getTenant(contextOf(actor, request)),
    updateTenant: ({ actor, body, request }) => members.renameTenant(contextOf(actor, request), body.name),
    transferOwnership: async ({ actor, body, request, reply }) => {
      await members.transferOwnership(contextOf(requireUser(actor), request), body.userId);
      return done(reply);
    },
    leaveTenant: async ({ actor, request, reply }) => {
      const user = requireUser(actor);
      await members.remove(contextOf(user, request), user.userId, "member.left");
      return done(reply);
    },
    listMembers: ({ actor, query, request }) => members.list(contextOf(actor, request), query),
    getMember: ({ actor, params, request }) => members.get(contextOf(actor, request), params.userId),
    updateMember: ({ actor, params, body, request }) =>
      members.changeRole(contextOf(actor, request), params.userId, body.role),
    removeMember: async ({ actor, params, request, reply }) => {
      await members.remove(contextOf(actor, request), params.userId);
      return done(reply);
    },
    disableMember: ({ actor, params, request }) =>
      members.setDisabled(contextOf(actor, request), params.userId, true),
    enableMember: ({ actor, params, request }) =>
      members.setDisabled(contextOf(actor, request), params.userId, false),

    listTeams: ({ actor, query, request }) =>
      groups.listTeams(contextOf(actor, request), query.includeArchived),
    createTeam: async ({ actor, body, request, reply }) => {
      reply.code(201);
      return groups.createTeam(contextOf(actor, request), body.name);
    },
    getTeam: ({ actor, params, request }) => groups.getTeam(contextOf(actor, request), params.id),
    updateTeam: ({ actor, params, body, request }) =>
      groups.updateTeam(contextOf(actor, request), params.id, { name: body.name }),
    archiveTeam: ({ actor, params, request }) =>
      groups.updateTeam(contextOf(actor, request), params.id, { archive: true }),
    listTeamMembers: ({ actor, params, request }) =>
      groups.listTeamMembers(contextOf(actor, request), params.id),
    addTeamMember: async ({ actor, params, request, reply }) => {
      await groups.setTeamMember(contextOf(actor, request), params.id, params.userId, true);
      return done(reply);
    },
    removeTeamMember: async ({ actor, params, request, reply }) => {
      await groups.setTeamMember(contextOf(actor, request), params.id, params.userId, false);
      return done(reply);
    },

    listChatgroups: ({ actor, query, request }) => groups.listChatgroups(contextOf(actor, request), query),
    createChatgroup: async ({ actor, body, request, reply }) => {
      reply.code(201);
      return groups.createChatgroup(contextOf(actor, request), body);
    },
    getChatgroup: ({ actor, params, request }) => groups.getChatgroup(contextOf(actor, request), params.id),
    updateChatgroup: ({ actor, params, body, request }) =>
      groups.updateChatgroup(contextOf(actor, request), params.id, { name: body.name }),
    archiveChatgroup: ({ actor, params, request }) =>
      groups.updateChatgroup(contextOf(actor, request), params.id, { archive: true }),
    listChatgroupMembers: ({ actor, params, request }) =>
      groups.listChatgroupMembers(contextOf(actor, request), params.id),
    addChatgroupMember: async ({ actor, params, request, reply }) => {
      await groups.setChatgroupMember(contextOf(actor, request), params.id, params.userId, true);
      return done(reply);
    },
    removeChatgroupMember: async ({ actor, params, request, reply }) => {
      await groups.setChatgroupMember(contextOf(actor, request), params.id, params.userId, false);
      return done(reply);
    },

    listInvites: ({ actor, request }) => invites.list(contextOf(actor, request)),
    createInvite: async ({ actor, body, request, reply }) => {
      const createdBy = actingUserId(actor);
      if (!createdBy) throw new ForbiddenError();
      reply.code(201);
      reply.header("cache-control", "no-store");
      return invites.create(contextOf(actor, request), createdBy, body);
    },
    revokeInvite: async ({ actor, params, request, reply }) => {
      await invites.revoke(contextOf(actor, request), params.id);
      return done(reply);
    },
    acceptInvite: async ({ actor, body, request }) => {
      const user = requireUser(actor);
      const ctx = { ...contextOf(user, request), actor: user };
      const tenantId = await invites.accept(ctx, body.token);
      return sessions.switchTenant(ctx, tenantId);
    },
    acceptInviteSignup: async ({ body, request, reply }) => {
      const joined = await invites.acceptWithSignup(originOf(request), body);
      reply.code(201);
      return cookies.set(reply, await sessions.startIn(originOf(request), joined.userId, joined.tenantId));
    },
  };
}
