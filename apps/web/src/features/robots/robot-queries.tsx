import { authRoutes, dispatchRoutes, type RobotPresence } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/api.js";

export const robotsKey = ["auth", "robots"] as const;
export const presenceKey = ["dispatch", "presence"] as const;

export function useRobots() {
  return useQuery({
    queryKey: robotsKey,
    queryFn: ({ signal }) => api.call("/api/auth", authRoutes.listRobots, { signal }),
  });
}

/** Live presence: dispatch has no browser push for it, so it is polled every few seconds. */
export function usePresence() {
  return useQuery({
    queryKey: presenceKey,
    queryFn: ({ signal }) => api.call("/api/dispatch", dispatchRoutes.robotPresence, { signal }),
    refetchInterval: 5_000,
    select: (data) => new Map(data.items.map((item) => [item.robotId, item])),
  });
}

/** `perseus-nanobot connect` with the flags the nanobot CLI takes, ready to paste. */
export function connectCommand(origin: string, secret: string): string {
  return `perseus-nanobot connect --url ${origin} --credential ${secret}`;
}

export function PresenceBadge({
  presence,
  loading,
}: {
  presence: RobotPresence | undefined;
  loading?: boolean;
}) {
  if (loading) return <span className="badge badge-unknown">Checking</span>;
  const state = presence?.state ?? "offline";
  const label = state === "online" ? "Online" : state === "busy" ? "Busy" : "Offline";
  const css = state === "online" ? "badge-ready" : state === "busy" ? "badge-busy" : "badge-down";
  const detail =
    presence && state !== "offline"
      ? ` · ${presence.activeTasks}/${presence.capacity} slots, ${presence.connections} connection${presence.connections === 1 ? "" : "s"}`
      : "";
  return (
    <span className={`badge ${css}`}>
      {label}
      {detail ? <span className="badge-detail">{detail}</span> : null}
    </span>
  );
}
