import { defineGauge, type Registry } from "@perseus/kit";

/**
 * The edge's own metric: WebSockets it proxies, by the service behind them. Counted when
 * a proxied pair opens and closes, never per message.
 */
export function createEdgeMetrics(registry: Registry, services: readonly string[]) {
  const open = defineGauge(registry, {
    name: "perseus_edge_websocket_connections",
    help: "WebSocket connections the edge proxies to a service right now",
    labelNames: ["service"],
  });
  for (const service of services) open.set({ service }, 0);
  return {
    webSockets: (service: string) => ({
      opened: () => open.inc({ service }),
      closed: () => open.dec({ service }),
    }),
  };
}
