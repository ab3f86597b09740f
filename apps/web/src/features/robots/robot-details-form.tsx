import { authRoutes, type Capability, type Robot, UpdateRobotBody } from "@perseus/contracts";
import { type FormEvent, useState } from "react";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { ErrorMessage } from "../../components/error-message.js";
import { useFormErrors } from "../../components/form-errors.js";
import { TextField } from "../../components/text-field.js";
import { CapabilitiesField } from "./capabilities-field.js";
import { robotsKey } from "./robot-queries.js";

/** Name, description, declared capabilities and concurrency of a robot. */
export function RobotDetailsForm({ robot, canEdit }: { robot: Robot; canEdit: boolean }) {
  const [name, setName] = useState(robot.name);
  const [description, setDescription] = useState(robot.description);
  const [capabilities, setCapabilities] = useState<Capability[]>(robot.capabilities);
  const [maxConcurrency, setMaxConcurrency] = useState(String(robot.maxConcurrency));
  const update = useAction(
    (body: UpdateRobotBody) =>
      api.call("/api/auth", authRoutes.updateRobot, { params: { id: robot.id }, body }),
    [robotsKey, ["auth", "robot", robot.id]],
  );
  const form = useFormErrors(update.error);
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const body = form.validate(UpdateRobotBody, {
      name,
      description,
      capabilities,
      maxConcurrency: Number(maxConcurrency),
    });
    if (body) update.mutate(body);
  };
  return (
    <form className="form" onSubmit={onSubmit} noValidate aria-label={`Details of @${robot.handle}`}>
      <fieldset disabled={!canEdit} className="form">
        <div className="form-row">
          <TextField label="Name" value={name} onChange={setName} error={form.field("name")} />
          <TextField
            label="Max tasks at once"
            type="number"
            min={1}
            max={64}
            value={maxConcurrency}
            onChange={setMaxConcurrency}
            error={form.field("maxConcurrency")}
          />
        </div>
        <TextField
          label="Description"
          value={description}
          onChange={setDescription}
          error={form.field("description")}
        />
        <CapabilitiesField value={capabilities} onChange={setCapabilities} />
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
