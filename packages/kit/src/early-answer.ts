import type { FastifyReply, FastifyRequest } from "fastify";

export type LingerOptions = {
  /** How long the rest of the body may keep arriving after the answer (default 5 s). */
  timeoutMs?: number;
  /** How much more of it is read and dropped before the connection is cut (default 64 MiB). */
  maxBytes?: number;
};

/**
 * Lingering close for an answer sent before the request body was read (a refused
 * upload). Closing at once with unread data resets the connection, and the reset can
 * destroy the answer before the client has read it: a proxy in front reports 502, a
 * browser a network error. Instead the rest of the body is read and dropped for a bounded
 * time and size, then the connection is cut; a body that ends in time leaves it reusable.
 * Call from an `onSend` hook; it replaces `Connection: close`, which would close at once.
 */
export function lingerAfterEarlyAnswer(
  request: FastifyRequest,
  reply: FastifyReply,
  options: LingerOptions = {},
): void {
  const body = request.raw;
  if (body.complete || reply.statusCode < 400) return;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  // Taken now: a proxy that gave up on the body may already have detached it from the socket.
  const socket = reply.raw.socket;
  if (!socket) return;
  reply.removeHeader("connection");
  reply.raw.once("finish", () => {
    if (body.complete || socket.destroyed) return;
    let dropped = 0;
    const cut = () => {
      clearTimeout(timer);
      body.off("data", onData);
      if (!body.complete) socket.destroy();
    };
    const onData = (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > maxBytes) cut();
    };
    const timer = setTimeout(cut, timeoutMs);
    timer.unref();
    body.once("end", () => {
      clearTimeout(timer);
      body.off("data", onData);
    });
    body.on("data", onData);
    body.resume();
  });
}
