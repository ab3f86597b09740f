import { authRoutes, Capability, type Robot, UpdateRobotBody } from "@perseus/contracts";
import { type FormEvent, useState } from "react";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { ErrorMessage } from "../../components/error-message.js";
import { fieldMessage, zodFieldErrors } from "../../components/form-errors.js";
import { TextField } from "../../components/text-field.js";
import { robotsKey } from "./robot-queries.js";

/** Name, description, declared capabilities and concurrency of a robot. */
export function RobotDetailsForm({ robot, canEdit }: { robot: Robot; canEdit: boolean }) {
  const [name, setName] = useState(robot.name);
  const [description, setDescription] = useState(robot.description);
  const [capabilities, setCapabilities] = useState<Capability[]>(robot.capabilities);
  const [maxConcurrency, setMaxConcurrency] = useState(String(robot.maxConcurrency));
  const [local, setLocal] = useState<Record<string, string>>({});
  const update = useAction(
    (body: UpdateRobotBody) =>
      api.call("/api/auth", authRoutes.updateRobot, { params: { id: robot.id }, body }),
    [robotsKey, ["auth", "robot", robot.id]],
  );
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = UpdateRobotBody.safeParse({
      name,
      description,
      capabilities,
      maxConcurrency: Number(maxConcurrency),
    });
    if (!parsed.success) return setLocal(zodFieldErrors(parsed.error));
    setLocal({});
    update.mutate(parsed.data);
  };
  return (
    <form className="form" onSubmit={onSubmit} noValidate aria-label={`Details of @${robot.handle}`}>
      <fieldset disabled={!canEdit} className="form">
        <div className="form-row">
          <TextField
            label="Name"
            value={name}
            onChange={setName}
            error={fieldMessage(local, update.error, "name")}
          />
          <TextField
            label="Max tasks at once"
            type="number"
            min={1}
            max={64}
            value={maxConcurrency}
            onChange={setMaxConcurrency}
            error={fieldMessage(local, update.error, "maxConcurrency")}
          />
        </div>
        <TextField
          label="Description"
          value={description}
          onChange={setDescription}
          error={fieldMessage(local, update.error, "description")}
        />
        <fieldset className="checkbox-grid">
          <legend>Capabilities</legend>
          {Capability.options.map((capability) => (
            <label key={capability} className="checkbox">
              <input
                type="checkbox"
                checked={capabilities.includes(capability)}
                onChange={(event) =>
                  setCapabilities((current) =>
                    event.target.checked ? [...current, capability] : current.filter((c) => c !== capability),
                  )
                }
              />
              {capability}
            </label>
          ))}
        </fieldset>
      </fieldset>
      <ErrorMessage error={update.error} />
      {update.isSuccess ? (
        <p role="status" className="muted">
          Saved.
        </p>
      ) : null}
      {canEdit ? (
        <button type="submit" className="button" disabled={update.isPending}>
          Save details
        </button>
      ) : null}
    </form>
  );
}
