import { authRoutes, type SessionResponse, SignupBody } from "@perseus/contracts";
import { useMutation } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import { type FormEvent, useState } from "react";
import { api } from "../../api/api.js";
import { ErrorMessage } from "../../components/error-message.js";
import { fieldMessage, zodFieldErrors } from "../../components/form-errors.js";
import { TextField } from "../../components/text-field.js";
import { PublicPage } from "../../layout/public-page.js";
import { useSession } from "../../session/session.js";

type Fields = { name: string; handle: string; email: string; password: string; tenantName: string };

/** A handle suggestion from a display name: lower-case, ASCII, dashes. */
export function suggestHandle(name: string): string {
  const base = name
    .normalize("NFKD")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^[^a-z]+|-+$/g, "")
    .slice(0, 32);
  return base;
}

/** The person fields shared by sign-up and sign-up through an invite. */
export function PersonFields({
  fields,
  set,
  local,
  error,
}: {
  fields: Omit<Fields, "tenantName">;
  set: (patch: Partial<Fields>) => void;
  local: Record<string, string>;
  error: unknown;
}) {
  return (
    <>
      <TextField
        label="Your name"
        autoComplete="name"
        required
        value={fields.name}
        onChange={(name) =>
          set(fields.handle === suggestHandle(fields.name) ? { name, handle: suggestHandle(name) } : { name })
        }
        error={fieldMessage(local, error, "name")}
      />
      <TextField
        label="Handle"
        hint="How people and robots @mention you: lower-case letters, digits, - or _."
        autoComplete="username"
        required
        value={fields.handle}
        onChange={(handle) => set({ handle })}
        error={fieldMessage(local, error, "handle")}
      />
      <TextField
        label="Email"
        type="email"
        autoComplete="email"
        required
        value={fields.email}
        onChange={(email) => set({ email })}
        error={fieldMessage(local, error, "email")}
      />
      <TextField
        label="Password"
        type="password"
        autoComplete="new-password"
        hint="At least 10 characters; a passphrase is best."
        required
        value={fields.password}
        onChange={(password) => set({ password })}
        error={fieldMessage(local, error, "password")}
      />
    </>
  );
}

/** Sign up: creates the organisation (tenant), its owner, a General team and chatgroup. */
export function SignUpPage() {
  const { signIn } = useSession();
  const navigate = useNavigate();
  const [fields, setFields] = useState<Fields>({
    name: "",
    handle: "",
    email: "",
    password: "",
    tenantName: "",
  });
  const [local, setLocal] = useState<Record<string, string>>({});
  const set = (patch: Partial<Fields>) => setFields((current) => ({ ...current, ...patch }));

  const signup = useMutation({
    mutationFn: (body: SignupBody) => api.call("/api/auth", authRoutes.signup, { body }),
    onSuccess: async (session: SessionResponse) => {
      signIn(session);
      await navigate({ to: "/" });
    },
  });

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = SignupBody.safeParse(fields);
    if (!parsed.success) return setLocal(zodFieldErrors(parsed.error));
    setLocal({});
    signup.mutate(parsed.data);
  };
  const showServer = signup.error && !fieldMessage({}, signup.error, "email") ? signup.error : null;

  return (
    <PublicPage title="Create an organisation" titleId="sign-up-title">
      <form className="card form" onSubmit={onSubmit} noValidate aria-label="Sign up">
        <ErrorMessage error={showServer} />
        <TextField
          label="Organisation name"
          required
          value={fields.tenantName}
          onChange={(tenantName) => set({ tenantName })}
          error={fieldMessage(local, signup.error, "tenantName")}
        />
        <PersonFields fields={fields} set={set} local={local} error={signup.error} />
        <button type="submit" className="button" disabled={signup.isPending}>
          {signup.isPending ? "Creating…" : "Create organisation"}
        </button>
      </form>
      <p>
        Already have an account? <Link to="/sign-in">Sign in</Link>.
      </p>
    </PublicPage>
  );
}
