import { stat } from "node:fs/promises";
import { extname, join, normalize, relative, resolve, sep } from "node:path";
import fastifyStatic from "@fastify/static";
import { AppError, UnavailableError } from "@perseus/kit";
import type { FastifyInstance, FastifyReply } from "fastify";

/**
 * The console's Content-Security-Policy: nothing inline, nothing from elsewhere. The
 * build emits only external scripts and stylesheets, so this holds without nonces.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Vite puts content-hashed files here: they never change, so browsers may keep them for a year. */
const HASHED_ASSETS = "assets/";

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The file under `root` that a URL path names, or null when it escapes root or is malformed. */
function resolveInside(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return null;
  const path = resolve(root, `.${normalize(`/${decoded}`)}`);
  return path === root || path.startsWith(root + sep) ? path : null;
}

/**
 * Serves the built console from `distDir`: real files as they are (hashed assets cached
 * for a year, everything else revalidated), and `index.html` for any other path that is
 * not an API or asset path, so that client-side routes survive a reload.
 */
export async function registerConsole(app: FastifyInstance, options: { distDir: string }) {
  const root = resolve(options.distDir);
  await app.register(fastifyStatic, { root, serve: false, index: false });

  const send = (reply: FastifyReply, file: string) => {
    const rel = relative(root, file).split(sep).join("/");
    const isHashed = rel.startsWith(HASHED_ASSETS);
    reply.header("content-security-policy", CONSOLE_CSP);
    reply.header("cache-control", isHashed ? "public, max-age=31536000, immutable" : "no-cache");
    return reply.sendFile(rel, root, { cacheControl: false });
  };

  const serve = async (path: string, reply: FastifyReply) => {
    if (path === "/api" || path.startsWith("/api/")) throw new AppError("not_found", `no route GET ${path}`);
    const file = resolveInside(root, path);
    if (file && file !== root && (await isFile(file))) return send(reply, file);
    // A missing script or image must not be answered with HTML (wrong type, confusing errors).
    if (extname(path) && extname(path) !== ".html") throw new AppError("not_found", `no file ${path}`);
    const index = join(root, "index.html");
    if (!(await isFile(index))) {
      throw new UnavailableError("the console is not built yet: run `pnpm build` (apps/web/dist is missing)");
    }
    return send(reply, index);
  };

  app.get("/", { schema: { hide: true } }, (_request, reply) => serve("/", reply));
  app.get("/*", { schema: { hide: true } }, (request, reply) =>
    serve(request.url.split("?")[0] ?? "/", reply),
  );
}
