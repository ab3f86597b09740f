import { Capability } from "@perseus/contracts";

/** The capabilities a robot declares, one checkbox each. */
export function CapabilitiesField({
  value,
  onChange,
}: {
  value: readonly Capability[];
  onChange: (next: (current: Capability[]) => Capability[]) => void;
}) {
  return (
    <fieldset className="checkbox-grid">
      <legend>Capabilities</legend>
      {Capability.options.map((capability) => (
        <label key={capability} className="checkbox">
          <input
            type="checkbox"
            checked={value.includes(capability)}
            onChange={(event) =>
              onChange((current) =>
                event.target.checked ? [...current, capability] : current.filter((c) => c !== capability),
              )
            }
          />
          {capability}
        </label>
      ))}
    </fieldset>
  );
}
