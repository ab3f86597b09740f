import { authRoutes, type Robot, RobotConfig } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { api } from "../../api/api.js";
import { isApiError } from "../../api/errors.js";
import { useAction } from "../../api/use-action.js";
import { ErrorMessage } from "../../components/error-message.js";
import { QueryState } from "../../components/query-state.js";
import { TextField } from "../../components/text-field.js";
import {
  type ConfigDraft,
  configFromDraft,
  draftFromSettings,
  emptyProfile,
  type ProfileDraft,
} from "./robot-config-draft.js";
import { robotsKey } from "./robot-queries.js";

function Area({
  label,
  value,
  onChange,
  error,
  hint,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  error?: string | undefined;
  hint?: string;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea
        id={id}
        rows={4}
        value={value}
        onChange={(event) => onChange(event.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={`${id}-hint`}
      />
      <p id={`${id}-hint`} className="small muted">
        {error ? <span className="field-error">{error}</span> : hint}
      </p>
    </div>
  );
}

type EditorProps = {
  robot: Robot;
  version: number;
  initial: ConfigDraft;
  canEdit: boolean;
  onSaved: () => void;
};

function ConfigEditor({ robot, version, initial, canEdit, onSaved }: EditorProps) {
  const executorId = useId();
  const [draft, setDraft] = useState(initial);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const key = ["auth", "robot-config", robot.id];
  const save = useAction(
    (settings: RobotConfig) =>
      api.call("/api/auth", authRoutes.putRobotConfig, {
        params: { id: robot.id },
        body: { settings, expectedVersion: version },
      }),
    [key, robotsKey],
    onSaved,
  );
  const set = (patch: Partial<ConfigDraft>) => {
    setDraft((current) => ({ ...current, ...patch }));
  };
  const setProfile = (index: number, patch: Partial<ProfileDraft>) =>
    set({ modelProfiles: draft.modelProfiles.map((p, i) => (i === index ? { ...p, ...patch } : p)) });
  const setCommand = (index: number, patch: Partial<{ name: string; template: string }>) =>
    set({ commands: draft.commands.map((c, i) => (i === index ? { ...c, ...patch } : c)) });

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const result = configFromDraft(draft);
    if (!result.ok) return setErrors(result.errors);
    setErrors({});
    save.mutate(result.config);
  };
  const conflict = isApiError(save.error, "precondition_failed");
  const summary = Object.entries(errors);

  return (
    <form className="form" onSubmit={onSubmit} noValidate aria-label={`Configuration of @${robot.handle}`}>
      {summary.length ? (
        <div className="alert alert-error" role="alert">
          <p>The configuration is not valid yet:</p>
          <ul>
            {summary.map(([path, message]) => (
              <li key={path}>
                <code>{path}</code>: {message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <fieldset disabled={!canEdit} className="form">
        <div className="field">
          <label htmlFor={executorId}>Executor</label>
          <select
            id={executorId}
            value={draft.executor}
            onChange={(event) => set({ executor: event.target.value as ConfigDraft["executor"] })}
          >
            {RobotConfig.shape.executor.options.map((executor) => (
              <option key={executor} value={executor}>
                {executor}
              </option>
            ))}
          </select>
        </div>
        <fieldset className="rows">
          <legend>
            Command templates ({"{prompt}"}, {"{workdir}"}, {"{taskId}"} are filled in on the robot)
          </legend>
          {draft.commands.map((command, index) => (
            <div key={index} className="form-row">
              <TextField
                label={`Command ${index + 1} name`}
                value={command.name}
                onChange={(name) => setCommand(index, { name })}
                error={errors[`commands.${index}.name`]}
              />
              <TextField
                label={`Command ${index + 1} template`}
                value={command.template}
                onChange={(template) => setCommand(index, { template })}
                error={errors[`commands.${index}.template`]}
              />
              <button
                type="button"
                className="button button-small button-ghost"
                onClick={() => set({ commands: draft.commands.filter((_, i) => i !== index) })}
              >
                Remove command {index + 1}
              </button>
            </div>
          ))}
          <button
            type="button"
            className="button button-small button-secondary"
            onClick={() => set({ commands: [...draft.commands, { name: "", template: "" }] })}
          >
            Add command
          </button>
        </fieldset>
        <div className="form-row">
          <Area
            label="Allow list"
            hint="One pattern per line."
            value={draft.allow}
            onChange={(allow) => set({ allow })}
            error={errors.allow}
          />
          <Area
            label="Deny list"
            hint="One pattern per line; deny wins over allow."
            value={draft.deny}
            onChange={(deny) => set({ deny })}
            error={errors.deny}
          />
        </div>
        <fieldset className="rows">
          <legend>Model profiles (API keys stay on the robot's machine)</legend>
          {errors.modelProfiles ? <p className="field-error">{errors.modelProfiles}</p> : null}
          {draft.modelProfiles.map((profile, index) => (
            <div key={index} className="form-row profile-row">
              {(["name", "provider", "model", "baseUrl", "temperature", "maxOutputTokens"] as const).map(
                (field) => (
                  <TextField
                    key={field}
                    label={`Profile ${index + 1} ${field}`}
                    value={profile[field]}
                    onChange={(value) => setProfile(index, { [field]: value })}
                    error={errors[`modelProfiles.${index}.${field}`]}
                  />
                ),
              )}
              <button
                type="button"
                className="button button-small button-ghost"
                onClick={() => set({ modelProfiles: draft.modelProfiles.filter((_, i) => i !== index) })}
              >
                Remove profile {index + 1}
              </button>
            </div>
          ))}
          <button
            type="button"
            className="button button-small button-secondary"
            onClick={() => set({ modelProfiles: [...draft.modelProfiles, emptyProfile()] })}
          >
            Add model profile
          </button>
        </fieldset>
        <div className="form-row">
          <TextField
            label="Default model profile"
            value={draft.defaultModelProfile}
            onChange={(defaultModelProfile) => set({ defaultModelProfile })}
            error={errors.defaultModelProfile}
          />
          <TextField
            label="Max runtime (seconds)"
            type="number"
            value={draft.maxRuntimeSeconds}
            onChange={(maxRuntimeSeconds) => set({ maxRuntimeSeconds })}
            error={errors["limits.maxRuntimeSeconds"]}
          />
          <TextField
            label="Max output (bytes)"
            type="number"
            value={draft.maxOutputBytes}
            onChange={(maxOutputBytes) => set({ maxOutputBytes })}
            error={errors["limits.maxOutputBytes"]}
          />
          <TextField
            label="Max concurrency (optional)"
            type="number"
            value={draft.maxConcurrency}
            onChange={(maxConcurrency) => set({ maxConcurrency })}
            error={errors["limits.maxConcurrency"]}
          />
        </div>
      </fieldset>
      {conflict ? (
        <p className="alert alert-error" role="alert">
          Someone changed this configuration meanwhile (now version {">"} {version}). Reload it, then apply
          your change again.
        </p>
      ) : (
        <ErrorMessage error={save.error} />
      )}
      {canEdit ? (
        <button type="submit" className="button" disabled={save.isPending}>
          {save.isPending ? "Saving…" : "Save configuration"}
        </button>
      ) : null}
    </form>
  );
}

/** A robot's central configuration, validated with the contract's schema before it is sent. */
export function RobotConfigForm({ robot, canEdit }: { robot: Robot; canEdit: boolean }) {
  const [savedVersion, setSavedVersion] = useState<number | null>(null);
  const config = useQuery({
    queryKey: ["auth", "robot-config", robot.id],
    queryFn: ({ signal }) =>
      api.call("/api/auth", authRoutes.getRobotConfig, { params: { id: robot.id }, signal }),
    select: (data) => ({ version: data.version, draft: draftFromSettings(data.settings) }),
    refetchOnWindowFocus: false,
  });
  return (
    <QueryState query={config} label="configuration">
      {(data) => (
        <>
          <p className="muted small" role="status">
            Version {data.version}
            {savedVersion !== null && data.version > savedVersion ? " — saved; the robot receives it." : ""}
          </p>
          {/* A new version (saved here or elsewhere) starts the form afresh from what is stored. */}
          <ConfigEditor
            key={data.version}
            robot={robot}
            version={data.version}
            initial={data.draft}
            canEdit={canEdit && !robot.revokedAt}
            onSaved={() => setSavedVersion(data.version)}
          />
        </>
      )}
    </QueryState>
  );
}
