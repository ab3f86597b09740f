import { ConfirmButton } from "./confirm-button.js";
import { RenameForm } from "./rename-form.js";

/** Rename and archive (confirmed) for a named thing such as a team or chatgroup; the caller wraps them. */
export function RenameArchiveActions({
  subject,
  current,
  onRename,
  onArchive,
  isArchiving,
}: {
  /** "team Design" / "chatgroup launch", for labels. */
  subject: string;
  current: string;
  onRename: (name: string) => Promise<unknown>;
  onArchive: () => void;
  isArchiving: boolean;
}) {
  return (
    <>
      <RenameForm subject={subject} current={current} onRename={onRename} />
      <ConfirmButton label="Archive" subject={subject} pending={isArchiving} onConfirm={onArchive} />
    </>
  );
}
