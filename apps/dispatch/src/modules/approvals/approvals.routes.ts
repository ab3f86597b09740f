import { dispatchRoutes } from "@perseus/contracts";
import { type RouteHandlers, registerRoutes } from "@perseus/kit";
import type { FastifyInstance } from "fastify";
import type { ApprovalsService } from "./approvals.service.js";

const { listApprovals, decideApproval } = dispatchRoutes;
const routes = { listApprovals, decideApproval };

/** The approvals API of the console: list requests, decide one. */
export function registerApprovalRoutes(app: FastifyInstance, prefix: string, service: ApprovalsService) {
  const handlers: RouteHandlers<typeof routes> = {
    listApprovals: ({ actor, query, request }) =>
      service.list({ tenantId: actor.tenantId, actor, requestId: request.id, ip: request.ip }, query),
    decideApproval: ({ actor, params, body, request }) =>
      service.decide(
        { tenantId: actor.tenantId, actor, requestId: request.id, ip: request.ip },
        params.id,
        body,
      ),
  };
  registerRoutes(app, prefix, routes, handlers);
}
