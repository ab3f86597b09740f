import {
  authRoutes,
  type ChatgroupActivity,
  chatRoutes,
  dispatchRoutes,
  type ListMessagesQuery,
  type Task,
} from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/api.js";
import { errorFromResponse } from "../../api/errors.js";
import { useSession } from "../../session/session.js";
import { invocableRobots, type MentionCandidate, mentionCandidates } from "./mentions.js";

export const CHAT = "/api/chat";
export const AUTH = "/api/auth";
export const DISPATCH = "/api/dispatch";

export const chatKeys = {
  chatgroups: ["chat", "chatgroups"] as const,
  candidates: (chatgroupId: string) => ["chat", "candidates", chatgroupId] as const,
  thread: (rootId: string) => ["chat", "thread", rootId] as const,
  tasks: (chatgroupId: string) => ["chat", "tasks", chatgroupId] as const,
  approvals: ["chat", "approvals"] as const,
};

/** The chatgroups the caller may read, with unread counts (kept fresh while the page is open). */
export function useChatgroupActivity() {
  return useQuery({
    queryKey: chatKeys.chatgroups,
    queryFn: ({ signal }) => api.call(CHAT, chatRoutes.listChatgroups, { signal }),
    refetchInterval: 15_000,
  });
}

export function fetchMessages(chatgroupId: string, query: Partial<ListMessagesQuery>, signal?: AbortSignal) {
  return api.call(CHAT, chatRoutes.listMessages, {
    params: { chatgroupId },
    query,
    ...(signal ? { signal } : {}),
  });
}

/** Who may be `@mentioned` in a chatgroup: its readers (team or explicit members) and invocable robots. */
export function useMentionCandidates(group: ChatgroupActivity | undefined) {
  const { session } = useSession();
  return useQuery({
    queryKey: chatKeys.candidates(group?.chatgroupId ?? "none"),
    enabled: Boolean(group),
    staleTime: 60_000,
    queryFn: async ({ signal }): Promise<MentionCandidate[]> => {
      if (!group) return [];
      const chatgroup = await api.call(AUTH, authRoutes.getChatgroup, {
        params: { id: group.chatgroupId },
        signal,
      });
      const members =
        chatgroup.visibility === "private"
          ? await api.call(AUTH, authRoutes.listChatgroupMembers, {
              params: { id: group.chatgroupId },
              signal,
            })
          : await api.call(AUTH, authRoutes.listTeamMembers, { params: { id: group.teamId }, signal });
      const robots = await api.call(AUTH, authRoutes.listRobots, { signal }).catch(() => ({ items: [] }));
      return mentionCandidates(
        members.items,
        invocableRobots(robots.items, group.chatgroupId, group.teamId),
        session?.user.id ?? "",
      );
    },
  });
}

/**
 * Recent tasks of a chatgroup, for chips on messages sent before the page was opened;
 * polled while some task is unfinished or a robot mention has no task yet (frames are best effort).
 */
export function useChatgroupTasks(chatgroupId: string, poll: boolean) {
  return useQuery({
    queryKey: chatKeys.tasks(chatgroupId),
    refetchInterval: poll ? 4_000 : false,
    queryFn: ({ signal }) =>
      api.call(DISPATCH, dispatchRoutes.listTasks, { query: { chatgroupId, limit: 100 }, signal }),
  });
}

/** Cancels a task; the route needs the task's ETag, so its current version is read first. */
export async function cancelTask(taskId: string): Promise<Task> {
  const current = await api.call(DISPATCH, dispatchRoutes.getTask, { params: { id: taskId } });
  const response = await api.fetch(`${DISPATCH}/tasks/${encodeURIComponent(taskId)}/cancel`, {
    method: "POST",
    headers: { "if-match": `"${current.version}"`, "content-type": "application/json" },
    body: JSON.stringify({ reason: "cancelled from the chat" }),
  });
  if (!response.ok) throw await errorFromResponse(response);
  return dispatchRoutes.cancelTask.responses[200].parse(await response.json());
}

export function retryTask(taskId: string): Promise<Task> {
  return api.call(DISPATCH, dispatchRoutes.retryTask, { params: { id: taskId } });
}
