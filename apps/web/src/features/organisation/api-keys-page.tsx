import {
  type ApiKeyScope,
  authRoutes,
  CreateApiKeyBody,
  type CreateApiKeyResponse,
} from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { CopyField } from "../../components/copy-field.js";
import { DataTable } from "../../components/data-table.js";
import { ErrorMessage } from "../../components/error-message.js";
import { zodFieldErrors } from "../../components/form-errors.js";
import { QueryState } from "../../components/query-state.js";
import { RequirePermission } from "../../components/require-permission.js";
import { RevokeControl } from "../../components/revoke-control.js";
import { ShownOnce } from "../../components/shown-once.js";
import { TextField } from "../../components/text-field.js";
import { TimeText } from "../../components/time-text.js";
import { scopesFor } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";

const keysKey = ["auth", "api-keys"] as const;

function CreateKeyForm({ onCreated }: { onCreated: (answer: CreateApiKeyResponse) => void }) {
  const { role } = useSession();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<ApiKeyScope[]>([]);
  const [rateLimit, setRateLimit] = useState("600");
  const [expires, setExpires] = useState("");
  const [local, setLocal] = useState<Record<string, string>>({});
  const create = useAction(
    (body: CreateApiKeyBody) => api.call("/api/auth", authRoutes.createApiKey, { body }),
    [keysKey],
    (answer) => {
      onCreated(answer);
      setName("");
      setScopes([]);
    },
  );
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = CreateApiKeyBody.safeParse({
      name,
      scopes,
      rateLimit: Number(rateLimit),
      ...(expires ? { expiresAt: new Date(`${expires}T23:59:59`).toISOString() } : {}),
    });
    if (!parsed.success) return setLocal(zodFieldErrors(parsed.error));
    setLocal({});
    create.mutate(parsed.data);
  };
  return (
    <form className="card form" onSubmit={onSubmit} noValidate aria-label="Create an API key">
      <div className="form-row">
        <TextField label="Key name" value={name} onChange={setName} error={local.name} maxLength={100} />
        <TextField
          label="Requests per minute"
          type="number"
          min={1}
          max={100000}
          value={rateLimit}
          onChange={setRateLimit}
          error={local.rateLimit}
        />
        <TextField
          label="Expires on (optional)"
          type="date"
          value={expires}
          onChange={setExpires}
          error={local.expiresAt}
        />
      </div>
      <fieldset className="checkbox-grid" aria-describedby={local.scopes ? "scopes-error" : undefined}>
        <legend>Scopes (a key never gets more than your role allows)</legend>
        {scopesFor(role).map((scope) => (
          <label key={scope} className="checkbox">
            <input
              type="checkbox"
              checked={scopes.includes(scope)}
              onChange={(event) =>
                setScopes((current) =>
                  event.target.checked ? [...current, scope] : current.filter((s) => s !== scope),
                )
              }
            />
            <code>{scope}</code>
          </label>
        ))}
      </fieldset>
      {local.scopes ? (
        <p id="scopes-error" className="field-error">
          Choose at least one scope.
        </p>
      ) : null}
      <ErrorMessage error={create.error} />
      <button type="submit" className="button" disabled={create.isPending}>
        Create API key
      </button>
    </form>
  );
}

/** API keys for scripts and integrations: create (shown once), list, revoke. */
export function ApiKeysPage() {
  const [created, setCreated] = useState<CreateApiKeyResponse | null>(null);
  const keys = useQuery({
    queryKey: keysKey,
    queryFn: ({ signal }) => api.call("/api/auth", authRoutes.listApiKeys, { signal }),
  });
  const revoke = useAction(
    (id: string) => api.call("/api/auth", authRoutes.revokeApiKey, { params: { id } }),
    [keysKey],
  );

  return (
    <section className="page" aria-labelledby="keys-title">
      <h1 id="keys-title">API keys</h1>
      <RequirePermission permission="api_keys.manage" what="manage API keys">
        <CreateKeyForm onCreated={setCreated} />
        {created ? (
          <ShownOnce label="API key created" onDone={() => setCreated(null)}>
            <p>
              <strong>Copy the key now:</strong> it is shown only once. Send it as the <code>X-API-Key</code>{" "}
              header.
            </p>
            <CopyField label="API key" value={created.key} />
          </ShownOnce>
        ) : null}
        <QueryState query={keys} label="API keys" isEmpty={(data) => data.items.length === 0}>
          {(data) => (
            <DataTable
              caption="API keys"
              columns={["Name", "Scopes", "Limit", "Last used", "Expires", "Actions"]}
            >
              {data.items.map((key) => (
                <tr key={key.id}>
                  <th scope="row">{key.name}</th>
                  <td className="small">{key.scopes.join(", ")}</td>
                  <td>{key.rateLimit}/min</td>
                  <td>
                    <TimeText iso={key.lastUsedAt} fallback="never" />
                  </td>
                  <td>
                    <TimeText iso={key.expiresAt} fallback="never" />
                  </td>
                  <td>
                    <RevokeControl
                      id={key.id}
                      subject={`API key ${key.name}`}
                      isRevoked={key.revokedAt !== null}
                      revoke={revoke}
                    />
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
