import { authRoutes, type CreateRobotCredentialResponse, type Robot } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { ErrorMessage } from "../../components/error-message.js";
import { QueryState } from "../../components/query-state.js";
import { RevokeControl } from "../../components/revoke-control.js";
import { TimeText } from "../../components/time-text.js";
import { CredentialPanel } from "./credential-panel.js";

/** A robot's credentials: rotate (a new one, shown once; then revoke the old) and revoke. */
export function RobotCredentials({ robot }: { robot: Robot }) {
  const key = ["auth", "robot-credentials", robot.id];
  const params = { id: robot.id };
  const [created, setCreated] = useState<CreateRobotCredentialResponse | null>(null);
  const credentials = useQuery({
    queryKey: key,
    queryFn: ({ signal }) => api.call("/api/auth", authRoutes.listRobotCredentials, { params, signal }),
  });
  const create = useAction(
    () => api.call("/api/auth", authRoutes.createRobotCredential, { params }),
    [key],
    setCreated,
  );
  const revoke = useAction(
    (credentialId: string) =>
      api.call("/api/auth", authRoutes.revokeRobotCredential, { params: { ...params, credentialId } }),
    [key],
  );

  return (
    <div>
      {robot.revokedAt ? null : (
        <p className="actions">
          <button
            type="button"
            className="button"
            disabled={create.isPending}
            onClick={() => create.mutate()}
          >
            New credential
          </button>
          <span className="muted small">
            To rotate: create a new one, reconnect the nanobot with it, then revoke the old one.
          </span>
        </p>
      )}
      <ErrorMessage error={create.error ?? revoke.error} />
      {created ? (
        <CredentialPanel created={created} handle={robot.handle} onDone={() => setCreated(null)} />
      ) : null}
      <QueryState query={credentials} label="credentials" isEmpty={(data) => data.items.length === 0}>
        {(data) => (
          <div className="table-scroll">
            <table>
              <caption className="visually-hidden">Credentials of @{robot.handle}</caption>
              <thead>
                <tr>
                  <th scope="col">Credential</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((credential) => (
                  <tr key={credential.id}>
                    <th scope="row">…{credential.id.slice(-8)}</th>
                    <td>
                      <TimeText iso={credential.createdAt} />
                    </td>
                    <td>
                      <TimeText iso={credential.lastUsedAt} fallback="never" />
                    </td>
                    <td>
                      <RevokeControl
                        id={credential.id}
                        subject={`credential …${credential.id.slice(-8)}`}
                        isRevoked={credential.revokedAt !== null}
                        revoke={revoke}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </QueryState>
    </div>
  );
}
