import type { LoggerOptions } from "pino";

/** Pino settings shared by every service: JSON lines, secrets redacted, service identity on each line. */
export function loggerOptions(options: {
  level: string;
  service: string;
  instanceId: string;
}): LoggerOptions {
  return {
    level: options.level,
    base: { service: options.service, instance: options.instanceId },
    redact: {
      paths: [
        "req.headers.authorization",
        "req.headers.cookie",
        'req.headers["x-api-key"]',
        'req.headers["sec-websocket-protocol"]',
        'res.headers["set-cookie"]',
        "*.password",
        "*.token",
        "*.refreshToken",
        "*.credential",
        "*.secret",
      ],
      censor: "[redacted]",
    },
    serializers: {
      // Query strings may carry a token (WebSocket upgrades): log the path only.
      req: (req: { method: string; url: string; id: string }) => ({
        method: req.method,
        url: req.url.split("?")[0],
        id: req.id,
      }),
    },
  };
}
