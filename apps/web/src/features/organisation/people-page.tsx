import { authRoutes, type Member, type TenantRole } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { ConfirmButton } from "../../components/confirm-button.js";
import { DataTable } from "../../components/data-table.js";
import { ErrorMessage } from "../../components/error-message.js";
import { QueryState } from "../../components/query-state.js";
import { RenameForm } from "../../components/rename-form.js";
import { TimeText } from "../../components/time-text.js";
import { assignableRoles, can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { membersKey, useMembers } from "./members-query.js";

const roleLabels: Record<TenantRole, string> = { owner: "Owner", admin: "Admin", user: "Member" };

function MemberRow({ member }: { member: Member }) {
  const { role, session } = useSession();
  const isSelf = member.userId === session?.user.id;
  const manage = can(role, "members.manage") && member.role !== "owner" && !isSelf;
  const params = { userId: member.userId };
  const setRole = useAction(
    (next: TenantRole) => api.call("/api/auth", authRoutes.updateMember, { params, body: { role: next } }),
    [membersKey],
  );
  const toggle = useAction(
    () =>
      api.call("/api/auth", member.disabled ? authRoutes.enableMember : authRoutes.disableMember, { params }),
    [membersKey],
  );
  const remove = useAction(() => api.call("/api/auth", authRoutes.removeMember, { params }), [membersKey]);
  const transfer = useAction(
    () => api.call("/api/auth", authRoutes.transferOwnership, { body: { userId: member.userId } }),
    [membersKey],
  );
  const error = setRole.error ?? toggle.error ?? remove.error ?? transfer.error;

  return (
    <tr>
      <th scope="row">
        {member.name} {isSelf ? <span className="muted">(you)</span> : null}
        <br />
        <span className="muted small">@{member.handle}</span>
      </th>
      <td>{member.email}</td>
      <td>
        {manage ? (
          <select
            aria-label={`Role of ${member.name}`}
            value={member.role}
            disabled={setRole.isPending}
            onChange={(event) => setRole.mutate(event.target.value as TenantRole)}
          >
            {assignableRoles(role).map((option) => (
              <option key={option} value={option}>
                {roleLabels[option]}
              </option>
            ))}
          </select>
        ) : (
          roleLabels[member.role]
        )}
      </td>
      <td>
        {member.disabled ? (
          <span className="badge badge-down">Disabled</span>
        ) : (
          <span className="badge badge-ready">Active</span>
        )}
      </td>
      <td>
        <TimeText iso={member.joinedAt} />
      </td>
      <td>
        <div className="actions">
          {manage ? (
            <>
              <ConfirmButton
                label={member.disabled ? "Enable" : "Disable"}
                subject={member.name}
                danger={!member.disabled}
                pending={toggle.isPending}
                onConfirm={() => toggle.mutate()}
              />
              <ConfirmButton
                label="Remove"
                subject={member.name}
                pending={remove.isPending}
                onConfirm={() => remove.mutate()}
              />
            </>
          ) : null}
          {can(role, "tenant.update") && !isSelf && !member.disabled ? (
            <ConfirmButton
              label="Make owner"
              subject={member.name}
              pending={transfer.isPending}
              onConfirm={() => transfer.mutate()}
            />
          ) : null}
        </div>
        <ErrorMessage error={error} />
      </td>
    </tr>
  );
}

/** The organisation's people and their roles; the tenant's name for its owner. */
export function PeoplePage() {
  const { role, session } = useSession();
  const members = useMembers();
  const tenant = useQuery({
    queryKey: ["auth", "tenant"],
    queryFn: ({ signal }) => api.call("/api/auth", authRoutes.getTenant, { signal }),
  });
  const rename = useAction(
    (name: string) => api.call("/api/auth", authRoutes.updateTenant, { body: { name } }),
    [
      ["auth", "tenant"],
      ["auth", "me"],
    ],
  );

  return (
    <section className="page" aria-labelledby="people-title">
      <div className="page-header">
        <h1 id="people-title">People</h1>
        <p className="muted">
          {tenant.data?.name ?? session?.tenant.name}
          {can(role, "tenant.update") && tenant.data ? (
            <>
              {" "}
              <RenameForm
                subject={`organisation ${tenant.data.name}`}
                current={tenant.data.name}
                onRename={(name) => rename.mutateAsync(name)}
              />
            </>
          ) : null}
        </p>
      </div>
      {can(role, "invites.manage") ? (
        <p className="muted">New people join through an invite link (see Invites).</p>
      ) : null}
      <QueryState query={members} label="people" isEmpty={(data) => data.length === 0}>
        {(data) => (
          <DataTable
            caption="Members of the organisation"
            columns={["Name", "Email", "Role", "Status", "Joined", "Actions"]}
          >
            {data.map((member) => (
              <MemberRow key={member.userId} member={member} />
            ))}
          </DataTable>
        )}
      </QueryState>
    </section>
  );
}
