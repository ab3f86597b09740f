import { dispatchRoutes } from "@perseus/contracts";
import { type Actor, type RouteHandlers, registerRoutes } from "@perseus/kit";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { TaskContext, TasksService } from "./tasks.service.js";

const { createTask, listTasks, getTask, cancelTask, listDeadLetters, retryTask, discardTask } =
  dispatchRoutes;
const routes = { createTask, listTasks, getTask, cancelTask, listDeadLetters, retryTask, discardTask };

const contextOf = (actor: Actor, request: FastifyRequest): TaskContext => ({
  tenantId: actor.tenantId,
  actor,
  requestId: request.id,
  ip: request.ip,
});

/** The task REST API: thin handlers over the tasks service. */
export function registerTaskRoutes(app: FastifyInstance, prefix: string, service: TasksService) {
  const handlers: RouteHandlers<typeof routes> = {
    createTask: async ({ actor, body, request, reply }) => {
      const task = await service.create(contextOf(actor, request), body);
      reply.code(201).header("etag", `"${task.version}"`).header("location", `${prefix}/tasks/${task.id}`);
      return task;
    },
    listTasks: ({ actor, query, request }) => service.list(contextOf(actor, request), query),
    getTask: async ({ actor, params, request, reply }) => {
      const { task, etag } = await service.get(contextOf(actor, request), params.id);
      reply.header("etag", etag).header("cache-control", "no-cache");
      return task;
    },
    cancelTask: async ({ actor, params, headers, body, request, reply }) => {
      const { task, etag } = await service.cancel(
        contextOf(actor, request),
        params.id,
        headers["if-match"],
        body?.reason,
      );
      reply.header("etag", etag);
      return task;
    },
    listDeadLetters: ({ actor, query, request }) => service.listDeadLetters(contextOf(actor, request), query),
    retryTask: async ({ actor, params, headers, request, reply }) => {
      const { task, etag } = await service.retry(contextOf(actor, request), params.id, headers["if-match"]);
      reply.header("etag", etag);
      return task;
    },
    discardTask: async ({ actor, params, headers, request, reply }) => {
      const { task, etag } = await service.discard(contextOf(actor, request), params.id, headers["if-match"]);
      reply.header("etag", etag);
      return task;
    },
  };
  registerRoutes(app, prefix, routes, handlers);
}
