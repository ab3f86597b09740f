import { authRoutes, type Member } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/api.js";

/** Every member of the tenant (pages of 200 followed to the end: pickers need them all). */
async function fetchAllMembers(signal: AbortSignal): Promise<Member[]> {
  const all: Member[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.call("/api/auth", authRoutes.listMembers, {
      query: { limit: 200, ...(cursor ? { cursor } : {}) },
      signal,
    });
    all.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return all;
}

export const membersKey = ["auth", "members"] as const;

export function useMembers() {
  return useQuery({ queryKey: membersKey, queryFn: ({ signal }) => fetchAllMembers(signal) });
}
