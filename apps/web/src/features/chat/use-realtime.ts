import { chatRoutes, type RealtimeServerFrame } from "@perseus/contracts";
import { useEffect, useMemo, useState } from "react";
import { api } from "../../api/api.js";
import { CHAT } from "./chat-api.js";
import {
  createRealtimeClient,
  type RealtimeClient,
  type RealtimeState,
  type SocketLike,
} from "./realtime-client.js";

export type Realtime = {
  client: RealtimeClient;
  state: RealtimeState;
  /** Frames of one chatgroup go to its listener; returns the unregister function. */
  listen: (chatgroupId: string, listener: (frame: RealtimeServerFrame) => void) => () => void;
  /** Where a (re)subscribe resumes for a chatgroup. */
  setResume: (chatgroupId: string, resume: () => number | undefined) => () => void;
};

function socketUrl(path: string): string {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${path}`;
}

/** One realtime connection for the chat page, open while the page is mounted. */
export function useRealtime(): Realtime {
  const [state, setState] = useState<RealtimeState>("connecting");
  const realtime = useMemo(() => {
    const listeners = new Map<string, Set<(frame: RealtimeServerFrame) => void>>();
    const resumes = new Map<string, () => number | undefined>();
    const client = createRealtimeClient({
      getTicket: () => api.call(CHAT, chatRoutes.createRealtimeTicket),
      openSocket: (url) => new WebSocket(socketUrl(url)) as unknown as SocketLike,
      onFrame: (frame) => {
        const id = "chatgroupId" in frame ? frame.chatgroupId : undefined;
        if (id) for (const listener of listeners.get(id) ?? []) listener(frame);
      },
      onState: setState,
      resumeFrom: (chatgroupId) => resumes.get(chatgroupId)?.(),
    });
    return {
      client,
      listen(chatgroupId: string, listener: (frame: RealtimeServerFrame) => void) {
        const set = listeners.get(chatgroupId) ?? new Set();
        set.add(listener);
        listeners.set(chatgroupId, set);
        return () => set.delete(listener);
      },
      setResume(chatgroupId: string, resume: () => number | undefined) {
        resumes.set(chatgroupId, resume);
        return () => resumes.delete(chatgroupId);
      },
    };
  }, []);

  useEffect(() => {
    realtime.client.start();
    // Coming back online or to the tab is a good moment to notice a dead socket.
    const wake = () => realtime.client.start();
    window.addEventListener("online", wake);
    return () => {
      window.removeEventListener("online", wake);
      realtime.client.stop();
    };
  }, [realtime]);

  return { ...realtime, state };
}
