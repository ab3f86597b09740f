// Runs a service entry point (BENCH_SERVER_ENTRY) in this process and prints the
// `READY {json}` line startPinned waits for once the service answers /readyz.
const entry = process.env.BENCH_SERVER_ENTRY;
const port = process.env.PORT;
if (!entry || !port) throw new Error("BENCH_SERVER_ENTRY and PORT are required");
await import(entry);
for (let attempt = 0; ; attempt++) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`);
    if (response.ok) break;
  } catch {
    // Not listening yet.
  }
  if (attempt > 300) throw new Error("service did not become ready");
  await new Promise((resolve) => setTimeout(resolve, 100));
}
console.log(`READY ${JSON.stringify({ port })}`);
