import { authRoutes } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { useId } from "react";
import { api } from "../../api/api.js";
import { describeError } from "../../api/errors.js";
import { useSession } from "../../session/session.js";
import { useSessionActions } from "./use-session-actions.js";

/** The signed-in person: tenant switcher, sign out, sign out everywhere. */
export function AccountMenu() {
  const { session } = useSession();
  const { signOut, signOutEverywhere, switchTenant } = useSessionActions();
  const ids = { tenant: useId(), menu: useId() };
  const me = useQuery({
    queryKey: ["auth", "me", session?.user.id],
    queryFn: ({ signal }) => api.call("/api/auth", authRoutes.me, { signal }),
    enabled: Boolean(session),
    staleTime: 60_000,
  });
  if (!session) return null;
  const memberships = me.data?.memberships ?? [session.tenant];
  const error = switchTenant.error ?? signOutEverywhere.error;

  return (
    <div className="account">
      <label htmlFor={ids.tenant} className="visually-hidden">
        Tenant
      </label>
      <select
        id={ids.tenant}
        className="tenant-select"
        value={session.tenant.id}
        disabled={memberships.length < 2 || switchTenant.isPending}
        onChange={(event) => switchTenant.mutate(event.target.value)}
      >
        {memberships.map((tenant) => (
          <option key={tenant.id} value={tenant.id}>
            {tenant.name} ({tenant.role})
          </option>
        ))}
      </select>
      <details className="menu">
        <summary aria-label={`Account of ${session.user.name}`}>
          <span aria-hidden="true" className="avatar">
            {session.user.name.slice(0, 1).toUpperCase()}
          </span>
        </summary>
        <div className="menu-panel" id={ids.menu}>
          <p>
            <strong>{session.user.name}</strong>
            <br />
            <span className="muted small">
              @{session.user.handle} · {session.user.email}
            </span>
          </p>
          <button type="button" className="button button-secondary" onClick={() => signOut.mutate()}>
            Sign out
          </button>
          <button
            type="button"
            className="button button-ghost"
            disabled={signOutEverywhere.isPending}
            onClick={() => signOutEverywhere.mutate()}
          >
            Sign out everywhere
          </button>
        </div>
      </details>
      {error ? (
        <p className="alert alert-error toast" role="alert">
          {describeError(error)}
        </p>
      ) : null}
    </div>
  );
}
