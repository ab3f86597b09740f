import { authRoutes, CreateInviteBody, type CreateInviteResponse } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { ConfirmButton } from "../../components/confirm-button.js";
import { CopyField } from "../../components/copy-field.js";
import { DataTable } from "../../components/data-table.js";
import { ErrorMessage } from "../../components/error-message.js";
import { QueryState } from "../../components/query-state.js";
import { RequirePermission } from "../../components/require-permission.js";
import { ShownOnce } from "../../components/shown-once.js";
import { TextField } from "../../components/text-field.js";
import { TimeText } from "../../components/time-text.js";

const invitesKey = ["auth", "invites"] as const;

/** Invite links: create (the link is shown once), list, revoke. */
export function InvitesPage() {
  const roleId = useId();
  const [role, setRole] = useState<"user" | "admin">("user");
  const [email, setEmail] = useState("");
  const [ttlHours, setTtlHours] = useState("168");
  const [local, setLocal] = useState<string>();
  const [created, setCreated] = useState<CreateInviteResponse | null>(null);
  const invites = useQuery({
    queryKey: invitesKey,
    queryFn: ({ signal }) => api.call("/api/auth", authRoutes.listInvites, { signal }),
  });
  const create = useAction(
    (body: CreateInviteBody) => api.call("/api/auth", authRoutes.createInvite, { body }),
    [invitesKey],
    (answer) => {
      setCreated(answer);
      setEmail("");
    },
  );
  const revoke = useAction(
    (id: string) => api.call("/api/auth", authRoutes.revokeInvite, { params: { id } }),
    [invitesKey],
  );

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = CreateInviteBody.safeParse({
      role,
      ttlHours: Number(ttlHours),
      ...(email.trim() ? { email: email.trim() } : {}),
    });
    if (!parsed.success)
      return setLocal(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    setLocal(undefined);
    create.mutate(parsed.data);
  };

  return (
    <section className="page" aria-labelledby="invites-title">
      <h1 id="invites-title">Invites</h1>
      <RequirePermission permission="invites.manage" what="invite people">
        <form className="card form" onSubmit={onSubmit} noValidate aria-label="Create an invite">
          <div className="form-row">
            <div className="field">
              <label htmlFor={roleId}>Role</label>
              <select
                id={roleId}
                value={role}
                onChange={(event) => setRole(event.target.value as "user" | "admin")}
              >
                <option value="user">Member</option>
                <option value="admin">Admin</option>
              </select>
            </div>
            <TextField
              label="Only for this email (optional)"
              type="email"
              value={email}
              onChange={setEmail}
            />
            <TextField
              label="Valid for (hours)"
              type="number"
              min={1}
              max={720}
              value={ttlHours}
              onChange={setTtlHours}
            />
            <button type="submit" className="button" disabled={create.isPending}>
              Create invite
            </button>
          </div>
          {local ? (
            <p className="field-error" role="alert">
              {local}
            </p>
          ) : null}
          <ErrorMessage error={create.error} />
        </form>
        {created ? (
          <ShownOnce label="Invite created" onDone={() => setCreated(null)}>
            <p>
              <strong>Copy this link now:</strong> it is shown only once. Anyone with it can join as{" "}
              {created.invite.role === "admin" ? "an admin" : "a member"}
              {created.invite.email ? ` (signing in as ${created.invite.email})` : ""} until{" "}
              {new Date(created.invite.expiresAt).toLocaleString()}.
            </p>
            <CopyField label="Invite link" value={created.link} />
          </ShownOnce>
        ) : null}
        <QueryState query={invites} label="invites" isEmpty={(data) => data.items.length === 0}>
          {(data) => (
            <DataTable caption="Invites" columns={["Role", "For", "Status", "Created", "Expires", "Actions"]}>
              {data.items.map((invite) => (
                <tr key={invite.id}>
                  <th scope="row">{invite.role}</th>
                  <td>{invite.email ?? <span className="muted">anyone with the link</span>}</td>
                  <td>
                    <span className={`badge badge-${invite.status === "pending" ? "ready" : "unknown"}`}>
                      {invite.status}
                    </span>
                  </td>
                  <td>
                    <TimeText iso={invite.createdAt} />
                  </td>
                  <td>
                    <TimeText iso={invite.expiresAt} />
                  </td>
                  <td>
                    {invite.status === "pending" ? (
                      <ConfirmButton
                        label="Revoke"
                        subject={`invite for ${invite.email ?? invite.role}`}
                        pending={revoke.isPending && revoke.variables === invite.id}
                        onConfirm={() => revoke.mutate(invite.id)}
                      />
                    ) : null}
                  </td>
                </tr>
              ))}
            </DataTable>
          )}
        </QueryState>
        <ErrorMessage error={revoke.error} />
      </RequirePermission>
    </section>
  );
}
