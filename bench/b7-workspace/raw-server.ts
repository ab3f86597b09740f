// B7 baseline: a bare node:http server that streams a PUT body into a file (fsynced before the
// answer, as the workspace's local driver does) and streams it back on GET. No auth, no hashing,
// no database: the floor any file service on this machine stands on.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";

const root = process.argv[2]!;
await mkdir(root, { recursive: true });
const fileOf = (url: string) =>
  join(root, encodeURIComponent(new URL(url, "http://x").searchParams.get("path")!));

const server = createServer(async (req, res) => {
  try {
    const file = fileOf(req.url!);
    if (req.method === "PUT") {
      // flush: fsync before close, so the answer means "on disk" as the workspace's does.
      await pipeline(req, createWriteStream(file, { flags: "wx", flush: true }));
      res.writeHead(201).end();
    } else {
      const info = await stat(file);
      res.writeHead(200, { "content-length": info.size, "content-type": "application/octet-stream" });
      await pipeline(createReadStream(file), res);
    }
  } catch (error) {
    if (!res.headersSent) res.writeHead(500).end(String(error));
    else res.destroy();
  }
});
server.listen(0, "127.0.0.1", () => {
  console.log(`READY ${JSON.stringify({ port: String((server.address() as { port: number }).port) })}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
