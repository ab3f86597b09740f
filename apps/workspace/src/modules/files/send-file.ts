import { PROBLEM_CONTENT_TYPE } from "@perseus/contracts";
import { AppError, toProblem } from "@perseus/kit";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { StorageDriver } from "../../storage/driver.js";
import type { FileToSend } from "./files.service.js";
import { contentDisposition, ifNoneMatchSatisfied, parseEtagList, parseRange, quoteEtag } from "./http.js";

/** Answers with a problem body whose status has no problem code of its own (408, 416). */
export function sendStatusProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  title: string,
  error: Error,
) {
  const { problem } = toProblem(error, request.id);
  return reply
    .code(status)
    .type(PROBLEM_CONTENT_TYPE)
    .send({ ...problem, status, title });
}

/**
 * Sends a stored file: strong ETag, `If-None-Match` → 304, one `Range` (honouring
 * `If-Range`) → 206 or 416, streamed from storage. Files are served as attachments in a
 * sandbox so uploaded HTML or SVG can never run as this origin's page.
 */
export async function sendFile(
  request: FastifyRequest,
  reply: FastifyReply,
  storage: StorageDriver,
  tenantId: string,
  file: FileToSend,
) {
  const etag = quoteEtag(file.etag);
  reply
    .header("etag", etag)
    .header("last-modified", file.updatedAt.toUTCString())
    .header("accept-ranges", "bytes")
    .header("cache-control", "private, no-cache")
    .header("content-security-policy", "default-src 'none'; sandbox")
    .header("x-content-type-options", "nosniff")
    .header("content-disposition", contentDisposition(file.path));
  const ifNoneMatch = request.headers["if-none-match"];
  const condition = parseEtagList(typeof ifNoneMatch === "string" ? ifNoneMatch : undefined);
  if (condition && !ifNoneMatchSatisfied(condition, file.etag)) return reply.code(304).send();

  const ifRange = request.headers["if-range"];
  const rangeHeader = ifRange === undefined || ifRange === etag ? request.headers.range : undefined;
  const range = parseRange(rangeHeader, file.size);
  if (range.kind === "unsatisfiable") {
    reply.header("content-range", `bytes */${file.size}`);
    return sendStatusProblem(
      request,
      reply,
      416,
      "Range not satisfiable",
      new AppError("bad_request", `the range is outside the file's ${file.size} bytes`),
    );
  }
  reply.type(file.contentType);
  if (range.kind === "partial") {
    reply
      .code(206)
      .header("content-range", `bytes ${range.start}-${range.end}/${file.size}`)
      .header("content-length", range.end - range.start + 1);
  } else reply.header("content-length", file.size);
  if (request.method === "HEAD") return reply.send();
  const stream = await storage.read(
    tenantId,
    file.sha256,
    range.kind === "partial" ? { start: range.start, end: range.end } : undefined,
  );
  return reply.send(stream);
}
