import type { ReactNode } from "react";
import { can, type Permission } from "../session/permissions.js";
import { useSession } from "../session/session.js";

/** A page part only some roles may use; others get an explanation instead of a refusal later. */
export function RequirePermission({
  permission,
  what,
  children,
}: {
  permission: Permission;
  what: string;
  children: ReactNode;
}) {
  const { role } = useSession();
  if (can(role, permission)) return <>{children}</>;
  return (
    <p className="alert alert-info" role="note">
      Your role ({role ?? "none"}) may not {what}. Ask an admin or the owner of the organisation.
    </p>
  );
}
