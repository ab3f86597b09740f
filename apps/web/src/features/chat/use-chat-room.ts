import { chatRoutes, dispatchRoutes, type Message, type RealtimeServerFrame } from "@perseus/contracts";
import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "../../api/api.js";
import { describeError } from "../../api/errors.js";
import { CHAT, chatKeys, DISPATCH, fetchMessages } from "./chat-api.js";
import {
  applyProgress,
  applyStatus,
  assemble,
  isFinished,
  mergeDetail,
  type TaskStream,
} from "./task-stream.js";
import {
  appendNewer,
  applyChange,
  applyLive,
  emptyTimeline,
  fromLatestPage,
  prependOlder,
  type Timeline,
} from "./timeline.js";
import type { Realtime } from "./use-realtime.js";

const PAGE = 50;
const TYPING_SHOWN_MS = 4_000;

export type ChatRoom = {
  timeline: Timeline;
  status: "loading" | "ready" | "error";
  error: string | null;
  loadingOlder: boolean;
  loadOlder: () => Promise<void>;
  tasks: ReadonlyMap<string, TaskStream>;
  typing: string[];
  present: string[];
  /** Puts a message the caller just posted or changed into the list at once. */
  accept: (message: Message) => void;
  /** Access ended while the page was open. */
  revoked: boolean;
};

/** History, live frames and robot work of one chatgroup. */
export function useChatRoom(realtime: Realtime, chatgroupId: string): ChatRoom {
  const queryClient = useQueryClient();
  const [timeline, setTimeline] = useState<Timeline>(emptyTimeline);
  const [status, setStatus] = useState<ChatRoom["status"]>("loading");
  const [error, setError] = useState<string | null>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [tasks, setTasks] = useState<ReadonlyMap<string, TaskStream>>(new Map());
  const [typing, setTyping] = useState<Map<string, number>>(new Map());
  const [present, setPresent] = useState<string[]>([]);
  const [revoked, setRevoked] = useState(false);
  const ref = useRef({
    timeline: emptyTimeline,
    filling: false,
    loaded: false,
    backfilled: new Set<string>(),
  });

  const commit = useCallback((next: Timeline) => {
    ref.current.timeline = next;
    setTimeline(next);
  }, []);

  /** Reads `after=newestSeq` until caught up: a gap is always filled, never skipped. */
  const fill = useCallback(async () => {
    if (ref.current.filling) return;
    ref.current.filling = true;
    try {
      for (let round = 0; round < 20; round += 1) {
        const page = await fetchMessages(chatgroupId, { after: ref.current.timeline.newestSeq, limit: 200 });
        commit(appendNewer(ref.current.timeline, page));
        if (!page.hasMoreAfter && !ref.current.timeline.pending.length) break;
        if (!page.items.length) break;
      }
    } catch (cause) {
      setError(describeError(cause));
    } finally {
      ref.current.filling = false;
    }
  }, [chatgroupId, commit]);

  const reload = useCallback(async () => {
    const page = await fetchMessages(chatgroupId, { limit: PAGE });
    commit(fromLatestPage(page, ref.current.timeline.pending));
    ref.current.loaded = true;
  }, [chatgroupId, commit]);

  const backfillTask = useCallback((taskId: string) => {
    if (ref.current.backfilled.has(taskId)) return;
    ref.current.backfilled.add(taskId);
    api
      .call(DISPATCH, dispatchRoutes.getTask, { params: { id: taskId } })
      .then((detail) =>
        setTasks((current) => new Map(current).set(taskId, mergeDetail(current.get(taskId), detail))),
      )
      .catch(() => ref.current.backfilled.delete(taskId));
  }, []);

  const onFrame = useCallback(
    (frame: RealtimeServerFrame) => {
      switch (frame.type) {
        case "message": {
          if (!ref.current.loaded) {
            // Held until the first page arrives; fromLatestPage merges it.
            ref.current.timeline = {
              ...ref.current.timeline,
              pending: [...ref.current.timeline.pending, frame.message],
            };
            return;
          }
          const { timeline: next, gap } = applyLive(ref.current.timeline, frame.message);
          commit(next);
          if (gap) void fill();
          if (frame.message.authorType === "user")
            setTyping((current) => {
              if (!frame.message.authorId || !current.has(frame.message.authorId)) return current;
              const copy = new Map(current);
              copy.delete(frame.message.authorId);
              return copy;
            });
          return;
        }
        case "message_changed":
          commit(applyChange(ref.current.timeline, frame.message));
          return;
        case "reload_required":
          reload().catch((cause) => setError(describeError(cause)));
          return;
        case "typing":
          setTyping((current) => new Map(current).set(frame.userId, Date.now() + TYPING_SHOWN_MS));
          return;
        case "presence":
          setPresent(frame.userIds);
          return;
        case "read_marker":
          void queryClient.invalidateQueries({ queryKey: chatKeys.chatgroups });
          return;
        case "task_status":
          setTasks((current) =>
            new Map(current).set(frame.taskId, applyStatus(current.get(frame.taskId), frame)),
          );
          if (isFinished(frame.status))
            void queryClient.invalidateQueries({ queryKey: chatKeys.tasks(chatgroupId) });
          return;
        case "task_progress":
          setTasks((current) => {
            const next = applyProgress(current.get(frame.taskId), frame);
            // Joined mid-stream or lost a frame: the stored progress log fills the hole.
            if (frame.seq > 1 && assemble(next).missing.length) backfillTask(frame.taskId);
            return new Map(current).set(frame.taskId, next);
          });
          return;
        case "unsubscribed":
          if (frame.reason === "access_revoked") setRevoked(true);
          return;
        case "error":
          if (frame.code === "not_found") setRevoked(true);
          return;
        default:
          return;
      }
    },
    [chatgroupId, commit, fill, reload, backfillTask, queryClient],
  );

  // The socket outlives renders: frames reach the latest handler through a ref, so the
  // subscription below is set up once per chatgroup (re-running it would drop live state).
  const frameHandler = useRef(onFrame);
  frameHandler.current = onFrame;
  const { client, listen, setResume } = realtime;

  useEffect(() => {
    ref.current = { timeline: emptyTimeline, filling: false, loaded: false, backfilled: new Set() };
    setTimeline(emptyTimeline);
    setTasks(new Map());
    setTyping(new Map());
    setPresent([]);
    setRevoked(false);
    setStatus("loading");
    setError(null);
    const stopListening = listen(chatgroupId, (frame) => frameHandler.current(frame));
    const stopResume = setResume(chatgroupId, () =>
      ref.current.loaded ? ref.current.timeline.newestSeq : undefined,
    );
    let cancelled = false;
    reload()
      .then(() => {
        if (cancelled) return;
        setStatus("ready");
        client.subscribe(chatgroupId);
      })
      .catch((cause) => {
        if (cancelled) return;
        setStatus("error");
        setError(describeError(cause));
      });
    return () => {
      cancelled = true;
      stopListening();
      stopResume();
      client.unsubscribe(chatgroupId);
    };
  }, [chatgroupId, client, listen, setResume, reload]);

  // Typing indicators fade on their own.
  useEffect(() => {
    if (!typing.size) return;
    const timer = setInterval(() => {
      const now = Date.now();
      setTyping((current) => new Map([...current].filter(([, until]) => until > now)));
    }, 1_000);
    return () => clearInterval(timer);
  }, [typing.size]);

  const loadOlder = useCallback(async () => {
    const first = ref.current.timeline.messages[0];
    if (!first || !ref.current.timeline.hasMoreBefore || loadingOlder) return;
    setLoadingOlder(true);
    try {
      const page = await fetchMessages(chatgroupId, { before: first.seq, limit: PAGE });
      commit(prependOlder(ref.current.timeline, page));
    } catch (cause) {
      setError(describeError(cause));
    } finally {
      setLoadingOlder(false);
    }
  }, [chatgroupId, commit, loadingOlder]);

  const accept = useCallback(
    (message: Message) => {
      const current = ref.current.timeline;
      if (current.messages.some((held) => held.id === message.id)) commit(applyChange(current, message));
      else {
        const { timeline: next, gap } = applyLive(current, message);
        commit(next);
        if (gap) void fill();
      }
    },
    [commit, fill],
  );

  return {
    timeline,
    status,
    error,
    loadingOlder,
    loadOlder,
    tasks,
    typing: [...typing.keys()],
    present,
    accept,
    revoked,
  };
}

/** Marks a chatgroup read up to `seq` (the socket when open, else REST). */
export async function markRead(realtime: Realtime, chatgroupId: string, seq: number): Promise<void> {
  if (realtime.client.read(chatgroupId, seq)) return;
  await api.call(CHAT, chatRoutes.markRead, { params: { chatgroupId }, body: { seq } });
}
