import type { SessionResponse } from "@perseus/contracts";
import { createContext, type ReactNode, useContext, useMemo, useState } from "react";

type SessionState = {
  session: SessionResponse | null;
  signIn: (session: SessionResponse) => void;
  signOut: () => void;
};

const SessionContext = createContext<SessionState | null>(null);

/**
 * The signed-in session. The access token lives in memory only (never in storage a
 * script could read later); the refresh credential is an httpOnly cookie the auth
 * service sets, so a reload signs in again through the refresh route.
 */
let currentAccessToken: string | null = null;

/** For the API client: the token of the current session, if any. */
export function getAccessToken(): string | null {
  return currentAccessToken;
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<SessionResponse | null>(null);
  const value = useMemo<SessionState>(
    () => ({
      session,
      signIn: (next) => {
        currentAccessToken = next.accessToken;
        setSession(next);
      },
      signOut: () => {
        currentAccessToken = null;
        setSession(null);
      },
    }),
    [session],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession must be used inside <SessionProvider>");
  return value;
}
