import { authRoutes, LoginBody, type SessionResponse } from "@perseus/contracts";
import { useMutation } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api } from "../../api/api.js";
import { describeError, isApiError } from "../../api/errors.js";
import { useFormErrors } from "../../components/form-errors.js";
import { TextField } from "../../components/text-field.js";
import { useSession } from "../../session/session.js";

/** Email + password sign-in (`POST /api/auth/login`); the caller decides where to go next. */
export function SignInForm({
  onSignedIn,
}: {
  onSignedIn: (session: SessionResponse) => void | Promise<void>;
}) {
  const { signIn } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");

  const login = useMutation({
    mutationFn: (body: LoginBody) => api.call("/api/auth", authRoutes.login, { body }),
    onSuccess: async (session) => {
      signIn(session);
      await onSignedIn(session);
    },
  });

  const form = useFormErrors(login.error);
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    // The schema the server validates with catches obvious mistakes before a round trip.
    const body = form.validate(LoginBody, { email, password });
    if (body) login.mutate(body);
  };

  const error = login.error;
  const formError =
    error && !(isApiError(error, "validation_failed") && error.fieldErrors.length)
      ? isApiError(error, "unauthenticated")
        ? "The email or password is not right."
        : describeError(error)
      : null;

  return (
    <form className="card form" onSubmit={onSubmit} noValidate aria-label="Sign in">
      {formError ? (
        <p className="alert alert-error" role="alert">
          {formError}
        </p>
      ) : null}
      <TextField
        label="Email"
        type="email"
        autoComplete="username"
        required
        value={email}
        onChange={setEmail}
        error={form.field("email")}
      />
      <TextField
        label="Password"
        type="password"
        autoComplete="current-password"
        required
        value={password}
        onChange={setPassword}
        error={form.field("password")}
      />
      <button type="submit" className="button" disabled={login.isPending}>
        {login.isPending ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}
