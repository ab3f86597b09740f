import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from "fastify";
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import type { HelmetOptions } from "helmet";
import { AccessLogController, createLogger } from "./logger.js";
import { errorsPlugin } from "./plugins/errors.js";
import { healthPlugin, type ReadinessCheck } from "./plugins/health.js";
import { metricsPlugin } from "./plugins/metrics.js";
import { responseHeadersPlugin, securityHeaders } from "./plugins/response-headers.js";
import { requestIdOf } from "./request-id.js";
import { registerRequestTracing } from "./tracing.js";

export type ServiceOptions = {
  /** Short service name: auth, chat, dispatch, workspace. */
  name: string;
  version: string;
  /** Every API route lives under this prefix, e.g. `/api/chat`; the edge routes on it. */
  prefix: string;
  description: string;
  instanceId?: string | undefined;
  logLevel?: string;
  /** A parent logger (local mode runs several services in one process). */
  logger?: FastifyBaseLogger;
  checks: ReadinessCheck[];
  bodyLimit?: number;
  trustProxy?: boolean;
  /** Who may scrape `/metrics` (the edge keeps it from the internet). Default: anyone who reaches the port. */
  allowMetricsScrape?: (request: FastifyRequest) => boolean;
};

/**
 * Security headers of API responses: JSON that no browser should render, frame, sniff or
 * send a referrer from (the OWASP REST set). Headers that only matter for HTML documents
 * are left out: each one is bytes and validation on every response.
 */
const API_SECURITY_HEADERS: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  },
  crossOriginOpenerPolicy: false,
  crossOriginResourcePolicy: { policy: "same-origin" },
  originAgentCluster: false,
  referrerPolicy: { policy: "no-referrer" },
  strictTransportSecurity: true,
  xContentTypeOptions: true,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xFrameOptions: { action: "deny" },
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
};

/** The OpenAPI viewer's page: its own scripts and inline styles, nothing from elsewhere. */
const DOCS_SECURITY_HEADERS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", "data:", "validator.swagger.io"],
    },
  },
};

export function defaultInstanceId(service: string): string {
  return `${service}-${hostname()}-${process.pid}-${randomBytes(2).toString("hex")}`;
}

/**
 * The base Fastify instance of a service: zod validation, problem+json errors, request
 * ids, security headers, health, readiness, metrics and an OpenAPI document with a
 * viewer at `<prefix>/docs`. Feature modules are registered on it by each app's buildApp.
 */
export async function createServiceApp(options: ServiceOptions): Promise<FastifyInstance> {
  const instanceId = options.instanceId ?? defaultInstanceId(options.name);
  const logging = options.logger
    ? { loggerInstance: options.logger.child({ service: options.name, instance: instanceId }) }
    : {
        loggerInstance: createLogger({
          level: options.logLevel ?? "info",
          service: options.name,
          instanceId,
        }),
      };
  const app = Fastify({
    ...logging,
    bodyLimit: options.bodyLimit ?? 1_048_576,
    trustProxy: options.trustProxy ?? true,
    // Accept a caller's request id when it is sane (the edge forwards one), otherwise mint one.
    genReqId: (request) => requestIdOf(request.headers["x-request-id"]),
    logController: new AccessLogController(),
    return503OnClosing: true,
    forceCloseConnections: "idle",
  });
  registerRequestTracing(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(errorsPlugin);
  // Before any route: the metrics plugin gives each route registered after it its own hook.
  await app.register(metricsPlugin, {
    service: options.name,
    instanceId,
    allowScrape: options.allowMetricsScrape,
  });
  await app.register(responseHeadersPlugin, { helmet: API_SECURITY_HEADERS });
  await app.register(healthPlugin, {
    checks: options.checks,
    service: options.name,
    version: options.version,
    instanceId,
  });
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: `Perseus ${options.name}`, version: options.version, description: options.description },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
    },
    transform: jsonSchemaTransform,
  });
  // The viewer is an HTML page with its own scripts and styles: it gets a document policy.
  const docsHeaders = Object.entries(securityHeaders(DOCS_SECURITY_HEADERS));
  await app.register(async (docs) => {
    docs.addHook("onRequest", (_request, reply, done) => {
      for (const [name, value] of docsHeaders) reply.header(name, value);
      done();
    });
    await docs.register(swaggerUi, { routePrefix: `${options.prefix}/docs` });
  });
  app.get(`${options.prefix}/openapi.json`, { schema: { hide: true } }, async () => app.swagger());
  return app;
}
