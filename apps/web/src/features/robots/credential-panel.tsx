import type { CreateRobotCredentialResponse } from "@perseus/contracts";
import { CopyField } from "../../components/copy-field.js";
import { ShownOnce } from "../../components/shown-once.js";
import { connectCommand } from "./robot-queries.js";

/** A fresh robot credential, shown once, with the command that starts a nanobot with it. */
export function CredentialPanel({
  created,
  handle,
  onDone,
}: {
  created: CreateRobotCredentialResponse;
  handle: string;
  onDone: () => void;
}) {
  return (
    <ShownOnce label={`New credential for @${handle}`} onDone={onDone}>
      <p>
        <strong>Copy the credential now:</strong> it is shown only once. Run this on the machine where @
        {handle} should work:
      </p>
      <CopyField
        label="Connect command"
        value={connectCommand(window.location.origin, created.secret)}
        multiline
      />
      <CopyField label="Robot credential" value={created.secret} />
    </ShownOnce>
  );
}
