// The nanobot as a library: embed the robot client or its executors in your own program.
export { createBackoff } from "./client/backoff.js";
export {
  CredentialRefusedError,
  createCredentialTokenSource,
  createStaticTokenSource,
  parseCredential,
} from "./client/credential.js";
export { Outbox } from "./client/outbox.js";
export {
  type ClientEvent,
  FatalClientError,
  RobotClient,
  type RobotClientOptions,
} from "./client/robot-client.js";
export {
  ApprovalGate,
  type Approver,
  createCommandApprover,
  createTtyApprover,
  denyApprover,
} from "./executors/approvals.js";
export {
  createExecutor,
  type ExecutionContext,
  type ExecutionResult,
  type Executor,
} from "./executors/index.js";
export { evaluateCommand } from "./executors/policy.js";
export { createSandbox, SandboxViolation } from "./executors/sandbox.js";
export { createLogger, type Logger } from "./log.js";
export { type McpHttpServer, startMcpHttpServer } from "./mcp/http-server.js";
export { createMcpServer } from "./mcp/server.js";
export {
  type EffectiveSettings,
  type LocalSettings,
  mergeSettings,
  parseCentralSettings,
} from "./settings.js";
