import { dispatchRoutes, type TerminalAttachQuery, terminalCloseCodes } from "@perseus/contracts";
import {
  type Actor,
  AppError,
  ForbiddenError,
  type RouteHandlers,
  registerRoutes,
  UnauthenticatedError,
} from "@perseus/kit";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { AttachGrant, TerminalRelay } from "./relay.js";
import type { TerminalContext, TerminalsService } from "./terminals.service.js";
import type { TerminalTickets } from "./tickets.js";

const {
  openTerminal,
  listTerminals,
  getTerminal,
  closeTerminal,
  createTerminalTicket,
  getTerminalSettings,
  updateTerminalSettings,
} = dispatchRoutes;
const routes = {
  openTerminal,
  listTerminals,
  getTerminal,
  closeTerminal,
  createTerminalTicket,
  getTerminalSettings,
  updateTerminalSettings,
};

const contextOf = (actor: Actor, request: FastifyRequest): TerminalContext => ({
  tenantId: actor.tenantId,
  actor,
  requestId: request.id,
  ip: request.ip,
});

/**
 * The live-terminal API of the console and its attach socket. Register after the robot
 * socket (which installs the WebSocket support).
 */
export function registerTerminalRoutes(
  app: FastifyInstance,
  prefix: string,
  deps: {
    service: TerminalsService;
    relay: TerminalRelay;
    tickets: TerminalTickets;
    /** Browsers send Origin; only the console's own may attach. */
    allowedOrigin: string;
  },
) {
  const { service, relay, tickets } = deps;
  const handlers: RouteHandlers<typeof routes> = {
    openTerminal: async ({ actor, body, request, reply }) => {
      const session = await service.open(contextOf(actor, request), body);
      reply.code(201).header("location", `${prefix}/terminals/${session.id}`);
      return session;
    },
    listTerminals: ({ actor, query, request }) => service.list(contextOf(actor, request), query),
    getTerminal: ({ actor, params, request }) => service.get(contextOf(actor, request), params.id),
    closeTerminal: ({ actor, params, request }) => service.close(contextOf(actor, request), params.id),
    createTerminalTicket: async ({ actor, params, body, request, reply }) => {
      const ticket = await service.ticket(contextOf(actor, request), params.id, body);
      reply.code(201);
      return ticket;
    },
    getTerminalSettings: ({ actor, request }) => service.settings(contextOf(actor, request)),
    updateTerminalSettings: ({ actor, body, request }) =>
      service.updateSettings(contextOf(actor, request), body),
  };
  registerRoutes(app, prefix, routes, handlers);

  const allowedOrigin = new URL(deps.allowedOrigin).origin;
  const grants = new WeakMap<FastifyRequest, AttachGrant>();
  app.get(
    `${prefix}/terminals/:id/attach`,
    {
      websocket: true,
      schema: { hide: true },
      // Everything is checked before the upgrade: a refused client gets a plain HTTP problem.
      preValidation: async (request: FastifyRequest) => {
        if (!request.ws) throw new AppError("bad_request", "this endpoint only accepts WebSocket upgrades");
        const origin = request.headers.origin;
        if (origin !== undefined && origin !== allowedOrigin) throw new ForbiddenError("origin not allowed");
        const ticket = (request.query as Partial<TerminalAttachQuery>).ticket;
        const { id } = request.params as { id: string };
        if (typeof ticket !== "string" || ticket.length === 0)
          throw new UnauthenticatedError("ticket required");
        const grant = await tickets.redeem(ticket, id);
        if (!grant) throw new UnauthenticatedError("ticket invalid, expired or already used");
        if (!(await service.mayAttach(grant.tenantId, grant.userId, id)))
          throw new ForbiddenError("only owners and admins may attach to terminals");
        grants.set(request, grant);
      },
    },
    (socket, request) => {
      const grant = grants.get(request);
      if (!grant) {
        socket.close(terminalCloseCodes.policyViolation, "no ticket");
        return;
      }
      relay.attach(socket, grant).catch((error) => {
        request.log.warn({ err: error }, "terminal attach failed");
        socket.close(1011, "internal error");
      });
    },
  );
}
