// Load generator process: runs autocannon with the options given as JSON in argv[2]
// and prints a compact JSON result. Kept in its own process so it can be pinned to a core.
import autocannon from "autocannon";

const options = JSON.parse(process.argv[2] ?? "{}") as autocannon.Options;
const result = await autocannon({ ...options, setupClient: undefined });
console.log(
  JSON.stringify({
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    total: result.requests.total,
  }),
);
