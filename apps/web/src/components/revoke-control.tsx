import { ConfirmButton } from "./confirm-button.js";

/** What RevokeControl needs of the revoke mutation (its variables are the id revoked). */
type RevokeAction = { isPending: boolean; variables: string | undefined; mutate: (id: string) => void };

/** A table cell's revoke control: a "Revoked" badge once revoked, else a confirmed Revoke button. */
export function RevokeControl({
  id,
  subject,
  isRevoked,
  revoke,
}: {
  id: string;
  /** What is revoked, for the confirmation ("API key ci", "credential …1a2b3c4d"). */
  subject: string;
  isRevoked: boolean;
  revoke: RevokeAction;
}) {
  if (isRevoked) return <span className="badge badge-down">Revoked</span>;
  return (
    <ConfirmButton
      label="Revoke"
      subject={subject}
      pending={revoke.isPending && revoke.variables === id}
      onConfirm={() => revoke.mutate(id)}
    />
  );
}
