import { authRoutes, INVITE_TOKEN_PATTERN, type SessionResponse } from "@perseus/contracts";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "@tanstack/react-router";
import { type FormEvent, useState } from "react";
import { api } from "../../api/api.js";
import { ErrorMessage } from "../../components/error-message.js";
import { zodFieldErrors } from "../../components/form-errors.js";
import { PublicPage } from "../../layout/public-page.js";
import { useSession } from "../../session/session.js";
import { SignInForm } from "./sign-in-form.js";
import { PersonFields } from "./sign-up-page.js";

/** The invite token travels in the fragment (`/invite#pin_…`), which browsers never send to a server. */
function readInviteToken(): string {
  return decodeURIComponent(window.location.hash.replace(/^#/, "")).trim();
}

/** Accepting an invite: as the signed-in person, by signing in first, or by signing up. */
export function InvitePage() {
  const { status, session, signIn } = useSession();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [token] = useState(readInviteToken);
  const [mode, setMode] = useState<"sign-in" | "sign-up">("sign-up");
  const [fields, setFields] = useState({ name: "", handle: "", email: "", password: "" });
  const [local, setLocal] = useState<Record<string, string>>({});

  const enter = async (next: SessionResponse) => {
    signIn(next);
    queryClient.clear();
    await navigate({ to: "/" });
  };
  const accept = useMutation({
    mutationFn: () => api.call("/api/auth", authRoutes.acceptInvite, { body: { token } }),
    onSuccess: enter,
  });
  const acceptSignup = useMutation({
    mutationFn: () => api.call("/api/auth", authRoutes.acceptInviteSignup, { body: { token, ...fields } }),
    onSuccess: enter,
  });

  if (!INVITE_TOKEN_PATTERN.test(token)) {
    return (
      <PublicPage title="Invitation" titleId="invite-title">
        <p className="alert alert-error" role="alert">
          This invite link is incomplete. Ask for a new one, and open it exactly as you received it.
        </p>
      </PublicPage>
    );
  }
  if (status === "loading") {
    return (
      <PublicPage title="Invitation" titleId="invite-title">
        <p role="status">Checking your session…</p>
      </PublicPage>
    );
  }
  if (session) {
    return (
      <PublicPage title="Invitation" titleId="invite-title">
        <div className="card form">
          <p>
            You were invited to join an organisation. Accept as <strong>{session.user.name}</strong> (
            {session.user.email})?
          </p>
          <ErrorMessage error={accept.error} />
          <button
            type="button"
            className="button"
            disabled={accept.isPending}
            onClick={() => accept.mutate()}
          >
            {accept.isPending ? "Joining…" : "Accept invitation"}
          </button>
        </div>
      </PublicPage>
    );
  }

  const onSignup = (event: FormEvent) => {
    event.preventDefault();
    const parsed = authRoutes.acceptInviteSignup.body.safeParse({ token, ...fields });
    if (!parsed.success) return setLocal(zodFieldErrors(parsed.error));
    setLocal({});
    acceptSignup.mutate();
  };
  return (
    <PublicPage title="Invitation" titleId="invite-title">
      <p>You were invited to join an organisation on Perseus.</p>
      <fieldset className="segmented" aria-label="Account">
        <button
          type="button"
          className="button button-ghost"
          aria-pressed={mode === "sign-up"}
          onClick={() => setMode("sign-up")}
        >
          I am new here
        </button>
        <button
          type="button"
          className="button button-ghost"
          aria-pressed={mode === "sign-in"}
          onClick={() => setMode("sign-in")}
        >
          I have an account
        </button>
      </fieldset>
      {mode === "sign-in" ? (
        // After signing in, the page shows the "accept as …" step above.
        <SignInForm onSignedIn={() => undefined} />
      ) : (
        <form className="card form" onSubmit={onSignup} noValidate aria-label="Sign up and join">
          <ErrorMessage error={acceptSignup.error} />
          <PersonFields
            fields={fields}
            set={(patch) => setFields((f) => ({ ...f, ...patch }))}
            local={local}
            error={acceptSignup.error}
          />
          <button type="submit" className="button" disabled={acceptSignup.isPending}>
            {acceptSignup.isPending ? "Joining…" : "Sign up and join"}
          </button>
        </form>
      )}
    </PublicPage>
  );
}
