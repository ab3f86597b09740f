import { ForbiddenError } from "@perseus/kit";
import { contextOf, originOf } from "../../lib/context.js";
import type { Handlers } from "../../lib/handlers.js";
import type { RobotsService } from "./robots.service.js";

type RobotRoutes =
  | "listRobots"
  | "createRobot"
  | "getRobot"
  | "updateRobot"
  | "revokeRobot"
  | "getRobotConfig"
  | "putRobotConfig"
  | "listRobotCredentials"
  | "createRobotCredential"
  | "revokeRobotCredential"
  | "robotToken"
  | "robotSelf";

export function robotsHandlers(robots: RobotsService): Handlers<RobotRoutes> {
  return {
    listRobots: ({ actor, request }) => robots.list(contextOf(actor, request)),
    createRobot: async ({ actor, body, request, reply }) => {
      reply.code(201);
      return robots.create(contextOf(actor, request), body);
    },
    getRobot: ({ actor, params, request }) => robots.get(contextOf(actor, request), params.id),
    updateRobot: ({ actor, params, body, request }) =>
      robots.update(contextOf(actor, request), params.id, body),
    revokeRobot: ({ actor, params, request }) => robots.revoke(contextOf(actor, request), params.id),
    getRobotConfig: ({ actor, params, request }) => robots.getConfig(contextOf(actor, request), params.id),
    putRobotConfig: ({ actor, params, body, request }) =>
      robots.putConfig(contextOf(actor, request), params.id, body),
    listRobotCredentials: ({ actor, params, request }) =>
      robots.listCredentials(contextOf(actor, request), params.id),
    createRobotCredential: async ({ actor, params, request, reply }) => {
      reply.code(201);
      reply.header("cache-control", "no-store");
      return robots.createCredential(contextOf(actor, request), params.id);
    },
    revokeRobotCredential: async ({ actor, params, request, reply }) => {
      await robots.revokeCredential(contextOf(actor, request), params.id, params.credentialId);
      reply.code(204);
      return null;
    },
    robotToken: async ({ body, request, reply }) => {
      reply.header("cache-control", "no-store");
      return robots.exchange(originOf(request), body.credential);
    },
    robotSelf: ({ actor, request }) => {
      if (actor.type !== "robot") throw new ForbiddenError();
      return robots.self(contextOf(actor, request), actor.robotId);
    },
  };
}
