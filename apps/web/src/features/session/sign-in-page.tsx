import { authRoutes, LoginBody } from "@perseus/contracts";
import { useMutation } from "@tanstack/react-query";
import { Link, useNavigate, useSearch } from "@tanstack/react-router";
import { type FormEvent, useId, useState } from "react";
import { api } from "../../api/api.js";
import { describeError, isApiError } from "../../api/errors.js";
import { PublicPage } from "../../layout/public-page.js";
import { useSession } from "../../session/session.js";
import { OidcButton } from "./oidc-button.js";
import { safeRedirect } from "./safe-redirect.js";

/** Email + password sign-in against the auth service (`POST /api/auth/login`). */
export function SignInPage() {
  const { signIn } = useSession();
  const navigate = useNavigate();
  const search = useSearch({ from: "/sign-in" });
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const ids = { email: useId(), password: useId(), error: useId() };

  const login = useMutation({
    mutationFn: (body: LoginBody) => api.call("/api/auth", authRoutes.login, { body }),
    onSuccess: async (session) => {
      signIn(session);
      await navigate({ href: safeRedirect(search.redirect) });
    },
  });

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    // The same schema the server validates with: obvious mistakes are caught before a round trip.
    const parsed = LoginBody.safeParse({ email, password });
    if (!parsed.success) {
      setLocalErrors(
        Object.fromEntries(parsed.error.issues.map((issue) => [String(issue.path[0]), issue.message])),
      );
      return;
    }
    setLocalErrors({});
    login.mutate(parsed.data);
  };

  const serverError = login.error;
  const fieldError = (field: string) =>
    localErrors[field] ?? (isApiError(serverError) ? serverError.fieldError(field) : undefined);
  const formError =
    serverError && !(isApiError(serverError, "validation_failed") && serverError.fieldErrors.length)
      ? isApiError(serverError, "unauthenticated")
        ? "The email or password is not right."
        : describeError(serverError)
      : null;

  return (
    <PublicPage title="Sign in" titleId="sign-in-title">
      <form
        className="card form"
        onSubmit={onSubmit}
        noValidate
        aria-describedby={formError ? ids.error : undefined}
      >
        {formError ? (
          <p id={ids.error} className="alert alert-error" role="alert">
            {formError}
          </p>
        ) : null}
        <div className="field">
          <label htmlFor={ids.email}>Email</label>
          <input
            id={ids.email}
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(event) => setEmail(event.target.value)}
            aria-invalid={fieldError("email") ? true : undefined}
            aria-describedby={fieldError("email") ? `${ids.email}-error` : undefined}
          />
          {fieldError("email") ? (
            <p id={`${ids.email}-error`} className="field-error">
              {fieldError("email")}
            </p>
          ) : null}
        </div>
        <div className="field">
          <label htmlFor={ids.password}>Password</label>
          <input
            id={ids.password}
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(event) => setPassword(event.target.value)}
            aria-invalid={fieldError("password") ? true : undefined}
            aria-describedby={fieldError("password") ? `${ids.password}-error` : undefined}
          />
          {fieldError("password") ? (
            <p id={`${ids.password}-error`} className="field-error">
              {fieldError("password")}
            </p>
          ) : null}
        </div>
        <button type="submit" className="button" disabled={login.isPending}>
          {login.isPending ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <OidcButton />
      <p>
        New to Perseus? <Link to="/sign-up">Create an organisation</Link>.
      </p>
    </PublicPage>
  );
}
