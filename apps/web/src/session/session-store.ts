import type { SessionResponse } from "@perseus/contracts";

export type SessionStatus = "loading" | "signed-in" | "signed-out";

export type SessionSnapshot = {
  status: SessionStatus;
  session: SessionResponse | null;
};

export type SessionStoreOptions = {
  /** Exchanges the httpOnly refresh cookie for a fresh session (`POST /api/auth/refresh`). */
  refresh: () => Promise<SessionResponse>;
  /** Whether a refresh failure means "no session" (401) rather than "try again later". */
  isSignedOutError: (error: unknown) => boolean;
  now?: () => number;
  setTimer?: (callback: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  /** Serialises refreshes across tabs: the refresh cookie rotates, so two at once would collide. */
  withLock?: <T>(work: () => Promise<T>) => Promise<T>;
  /** Refresh this long before the access token expires. */
  marginMs?: number;
};

export type SessionStore = ReturnType<typeof createSessionStore>;

/**
 * The signed-in session, outside React so the API client and the router guard can use it.
 * The access token lives in memory only; a reload signs in again through the refresh cookie.
 * Refreshes are single-flight: concurrent 401s and the expiry timer share one request.
 */
export function createSessionStore(options: SessionStoreOptions) {
  const now = options.now ?? Date.now;
  const setTimer = options.setTimer ?? ((callback, ms) => setTimeout(callback, ms));
  const clearTimer =
    options.clearTimer ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>));
  const withLock = options.withLock ?? ((work) => work());
  const marginMs = options.marginMs ?? 60_000;

  let snapshot: SessionSnapshot = { status: "loading", session: null };
  let timer: unknown = null;
  let inFlight: Promise<SessionResponse | null> | null = null;
  let started: Promise<SessionResponse | null> | null = null;
  const listeners = new Set<() => void>();

  function publish(next: SessionSnapshot) {
    snapshot = next;
    for (const listener of listeners) listener();
  }

  function schedule(session: SessionResponse) {
    if (timer !== null) clearTimer(timer);
    const delay = Math.max(Date.parse(session.expiresAt) - now() - marginMs, 1_000);
    timer = setTimer(() => {
      timer = null;
      void refresh();
    }, delay);
  }

  function signIn(session: SessionResponse) {
    schedule(session);
    publish({ status: "signed-in", session });
  }

  function clear() {
    if (timer !== null) clearTimer(timer);
    timer = null;
    publish({ status: "signed-out", session: null });
  }

  /** One refresh at a time; resolves to the new session, or null when signed out. */
  function refresh(): Promise<SessionResponse | null> {
    if (inFlight) return inFlight;
    inFlight = withLock(options.refresh)
      .then(
        (session) => {
          signIn(session);
          return session;
        },
        (error: unknown) => {
          // An outage keeps the session (the token may still be good); a refusal ends it.
          if (options.isSignedOutError(error) || snapshot.status !== "signed-in") clear();
          else if (snapshot.session)
            schedule({ ...snapshot.session, expiresAt: new Date(now() + marginMs + 15_000).toISOString() });
          return snapshot.session;
        },
      )
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  }

  return {
    getSnapshot: (): SessionSnapshot => snapshot,
    getAccessToken: (): string | null => snapshot.session?.accessToken ?? null,
    subscribe(listener: () => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    /** On load: try the refresh cookie once. Later calls answer the same promise. */
    start(): Promise<SessionResponse | null> {
      started ??= refresh();
      return started;
    },
    /** Resolves once the first refresh settled: the router guard waits for it. */
    async ready(): Promise<SessionResponse | null> {
      if (snapshot.status === "loading") return this.start();
      return snapshot.session;
    },
    signIn,
    /** Forgets the session locally (the caller has told the server already, or it is gone). */
    signOut: clear,
    refresh,
    /**
     * For the API client after a 401 with `usedToken`: whether there is a newer token to
     * retry with (refreshing once if nobody did since that request left).
     */
    async recover(usedToken: string | null): Promise<boolean> {
      const current = snapshot.session?.accessToken ?? null;
      if (current && current !== usedToken) return true;
      const session = await refresh();
      return session !== null && session.accessToken !== usedToken;
    },
  };
}
