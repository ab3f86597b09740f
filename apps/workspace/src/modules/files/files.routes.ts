import { workspaceRoutes } from "@perseus/contracts";
import { type Actor, lingerAfterEarlyAnswer, registerRoutes } from "@perseus/kit";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { StorageDriver } from "../../storage/driver.js";
import type { FilesContext } from "./files.context.js";
import type { FilesWriter } from "./files.mutations.js";
import type { FilesReader } from "./files.service.js";
import { sendFile, sendStatusProblem } from "./send-file.js";
import { UploadTimeoutError } from "./upload-limits.js";

export type FilesRoutesOptions = {
  /** Route prefix (not `prefix`: Fastify would apply that to the plugin a second time). */
  basePath: string;
  reader: FilesReader;
  writer: FilesWriter;
  storage: StorageDriver;
};

const context = (actor: Actor, request: FastifyRequest): FilesContext => ({
  tenantId: actor.tenantId,
  actor,
  requestId: request.id,
  ip: request.ip,
});

const preconditions = (headers: {
  "if-match"?: string | undefined;
  "if-none-match"?: string | undefined;
}) => ({
  ifMatch: headers["if-match"],
  ifNoneMatch: headers["if-none-match"],
});

const created = <E extends { etag: string }>(
  reply: FastifyReply,
  result: { created: boolean; entry: E },
): E => {
  reply.code(result.created ? 201 : 200).header("etag", result.entry.etag);
  return result.entry;
};

/** The workspace REST API: thin handlers over the reader and writer services. */
export async function filesRoutes(app: FastifyInstance, options: FilesRoutesOptions) {
  const { basePath: prefix, reader, writer, storage } = options;
  const { writeFile, ...rest } = workspaceRoutes;

  registerRoutes(app, prefix, rest, {
    viewTree: async ({ params, query, actor, request }) =>
      reader.list(context(actor, request), params, query.path, query.recursive, true),
    layerTree: async ({ params, query, actor, request }) =>
      reader.list(context(actor, request), params, query.path, query.recursive, false),
    viewReadFile: async ({ params, query, actor, request, reply }) => {
      const file = await reader.file(context(actor, request), params, query.path, true);
      return sendFile(request, reply, storage, actor.tenantId, file);
    },
    readFile: async ({ params, query, actor, request, reply }) => {
      const file = await reader.file(context(actor, request), params, query.path, false);
      return sendFile(request, reply, storage, actor.tenantId, file);
    },
    readVersion: async ({ params, query, actor, request, reply }) => {
      const ref = { layer: params.layer, layerId: params.layerId };
      const file = await reader.version(context(actor, request), ref, query.path, params.version);
      return sendFile(request, reply, storage, actor.tenantId, file);
    },
    listVersions: async ({ params, query, actor, request }) =>
      reader.versions(context(actor, request), params, query.path),
    deleteEntry: async ({ params, query, headers, actor, request }) =>
      writer.remove(context(actor, request), params, query.path, query.recursive, preconditions(headers)),
    makeDirectory: async ({ params, body, actor, request, reply }) =>
      created(reply, await writer.mkdir(context(actor, request), params, body.path)),
    moveEntry: async ({ params, body, headers, actor, request, reply }) => {
      const entry = await writer.move(
        context(actor, request),
        params,
        body.from,
        body.to,
        preconditions(headers),
      );
      reply.header("etag", entry.etag);
      return entry;
    },
    copyFile: async ({ params, body, headers, actor, request, reply }) =>
      created(
        reply,
        await writer.copy(context(actor, request), params, body.from, body.to, preconditions(headers)),
      ),
    createWhiteout: async ({ params, body, actor, request, reply }) =>
      created(reply, await writer.whiteout(context(actor, request), params, body.path)),
    restoreVersion: async ({ params, body, headers, actor, request, reply }) => {
      const result = await writer.restore(
        context(actor, request),
        params,
        body.path,
        body.version,
        preconditions(headers),
      );
      reply.header("etag", result.entry.etag);
      return result.entry;
    },
  });

  // Uploads are raw streamed bodies: no content-type parser may read (and buffer) them.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, _payload, done) => done(null));
    // A refused upload whose body was not read: the rest is drained briefly, then the
    // connection is cut. Closing at once would reset it and could lose the answer in flight.
    scope.addHook("onSend", async (request, reply) => {
      if (reply.getHeader("connection") !== "close") lingerAfterEarlyAnswer(request, reply);
    });
    registerRoutes(
      scope,
      prefix,
      { writeFile },
      {
        writeFile: async ({ params, query, headers, actor, request, reply }) => {
          const length = request.headers["content-length"];
          try {
            const result = await writer.write(
              context(actor, request),
              params,
              query.path,
              preconditions(headers),
              {
                body: request.raw,
                contentLength: length === undefined ? undefined : Number(length),
                contentType: request.headers["content-type"],
              },
            );
            reply.header("etag", result.entry.etag);
            return created(reply, result);
          } catch (error) {
            if (error instanceof UploadTimeoutError) {
              reply.header("connection", "close");
              return sendStatusProblem(request, reply, 408, "Request timeout", error);
            }
            throw error;
          }
        },
      },
    );
  });
}
