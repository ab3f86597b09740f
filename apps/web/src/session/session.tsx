import { authRoutes, type SessionResponse, type TenantRole } from "@perseus/contracts";
import { createContext, type ReactNode, useContext, useMemo, useSyncExternalStore } from "react";
import { createApiClient } from "../api/client.js";
import { isApiError } from "../api/errors.js";
import { createSessionStore, type SessionStatus, type SessionStore } from "./session-store.js";

// The refresh call goes through a client without the 401 retry (it is the retry).
const refreshClient = createApiClient();

/** Web Locks keep two tabs from spending the same rotating refresh cookie at once. */
function withRefreshLock<T>(work: () => Promise<T>): Promise<T> {
  const locks = typeof navigator === "undefined" ? undefined : navigator.locks;
  return locks ? (locks.request("perseus-session-refresh", work) as Promise<T>) : work();
}

/** The console's one session (the access token lives in memory only). */
export const sessionStore: SessionStore = createSessionStore({
  refresh: () => refreshClient.call("/api/auth", authRoutes.refresh),
  isSignedOutError: (error) => isApiError(error) && error.status >= 400 && error.status < 500,
  withLock: withRefreshLock,
});

/** For the API client: the token of the current session, if any. */
export function getAccessToken(): string | null {
  return sessionStore.getAccessToken();
}

const SessionContext = createContext<SessionStore>(sessionStore);

/** Lets tests (or a second console) use their own store; the app uses the default one. */
export function SessionProvider({ store, children }: { store?: SessionStore; children: ReactNode }) {
  return <SessionContext.Provider value={store ?? sessionStore}>{children}</SessionContext.Provider>;
}

export type SessionState = {
  status: SessionStatus;
  session: SessionResponse | null;
  /** The caller's role in the current tenant (null when signed out). */
  role: TenantRole | null;
  signIn: (session: SessionResponse) => void;
  /** Forgets the session in this tab; see `useSessionActions` for the server-side sign-out. */
  signOut: () => void;
  store: SessionStore;
};

export function useSession(): SessionState {
  const store = useContext(SessionContext);
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  return useMemo(
    () => ({
      status: snapshot.status,
      session: snapshot.session,
      role: snapshot.session?.tenant.role ?? null,
      signIn: store.signIn,
      signOut: store.signOut,
      store,
    }),
    [snapshot, store],
  );
}
