import { Link, useNavigate, useSearch } from "@tanstack/react-router";
import { useEffect } from "react";
import { PublicPage } from "../../layout/public-page.js";
import { useSession } from "../../session/session.js";
import { OidcButton } from "./oidc-button.js";
import { safeRedirect } from "./safe-redirect.js";
import { SignInForm } from "./sign-in-form.js";

/** Sign in with a password or, when the platform has one, an identity provider. */
export function SignInPage() {
  const { status } = useSession();
  const navigate = useNavigate();
  const search = useSearch({ from: "/sign-in" });
  const target = safeRedirect(search.redirect);

  // Already signed in (a reload, an OIDC return): straight on to where they were going.
  useEffect(() => {
    if (status === "signed-in") void navigate({ href: target, replace: true });
  }, [status, target, navigate]);

  if (status !== "signed-out") {
    return (
      <PublicPage title="Sign in" titleId="sign-in-title">
        <p role="status">Checking your session…</p>
      </PublicPage>
    );
  }
  return (
    <PublicPage title="Sign in" titleId="sign-in-title">
      <SignInForm onSignedIn={() => undefined} />
      <OidcButton />
      <p>
        New to Perseus? <Link to="/sign-up">Create an organisation</Link>.
      </p>
    </PublicPage>
  );
}
