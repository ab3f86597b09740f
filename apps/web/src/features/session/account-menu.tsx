import { authRoutes } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { useEffect, useId, useRef, useState } from "react";
import { api } from "../../api/api.js";
import { describeError } from "../../api/errors.js";
import { useSession } from "../../session/session.js";
import { useSessionActions } from "./use-session-actions.js";

/** The signed-in person: tenant switcher, and a menu with sign out / sign out everywhere. */
export function AccountMenu() {
  const { session } = useSession();
  const { signOut, signOutEverywhere, switchTenant } = useSessionActions();
  const ids = { tenant: useId(), menu: useId() };
  const [open, setOpen] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  const me = useQuery({
    queryKey: ["auth", "me", session?.user.id],
    queryFn: ({ signal }) => api.call("/api/auth", authRoutes.me, { signal }),
    enabled: Boolean(session),
    staleTime: 60_000,
  });

  // Escape or a click elsewhere closes the menu.
  useEffect(() => {
    if (!open) return;
    const onKey = (event: KeyboardEvent) => event.key === "Escape" && setOpen(false);
    const onClick = (event: MouseEvent) => {
      if (!root.current?.contains(event.target as Node)) setOpen(false);
    };
    document.addEventListener("keydown", onKey);
    document.addEventListener("mousedown", onClick);
    return () => {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("mousedown", onClick);
    };
  }, [open]);

  if (!session) return null;
  const memberships = me.data?.memberships ?? [session.tenant];
  const error = switchTenant.error ?? signOutEverywhere.error;

  return (
    <div className="account" ref={root}>
      <label htmlFor={ids.tenant} className="visually-hidden">
        Organisation
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
      <button
        type="button"
        className="avatar"
        aria-label={`Account of ${session.user.name}`}
        aria-expanded={open}
        aria-controls={ids.menu}
        onClick={() => setOpen((value) => !value)}
      >
        <span aria-hidden="true">{session.user.name.slice(0, 1).toUpperCase()}</span>
      </button>
      {open ? (
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
      ) : null}
      {error ? (
        <p className="alert alert-error toast" role="alert">
          {describeError(error)}
        </p>
      ) : null}
    </div>
  );
}
