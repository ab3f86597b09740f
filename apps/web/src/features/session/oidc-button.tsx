import { useQuery } from "@tanstack/react-query";

const START = "/api/auth/oidc/start";

/**
 * The auth service has no "which providers" route: OIDC is on when `/oidc/start` answers
 * with a redirect (an opaque redirect to fetch) rather than a 404 problem.
 */
async function oidcEnabled(signal: AbortSignal): Promise<boolean> {
  const response = await fetch(START, { redirect: "manual", credentials: "same-origin", signal });
  return response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400);
}

/** "Continue with single sign-on", shown only when the platform has an identity provider. */
export function OidcButton() {
  const enabled = useQuery({
    queryKey: ["auth", "oidc-enabled"],
    queryFn: ({ signal }) => oidcEnabled(signal),
    staleTime: Number.POSITIVE_INFINITY,
    retry: false,
  });
  if (!enabled.data) return null;
  return (
    <p className="oidc">
      <a className="button button-secondary" href={START}>
        Continue with single sign-on
      </a>
    </p>
  );
}
