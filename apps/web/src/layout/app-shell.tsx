import { Link, Outlet } from "@tanstack/react-router";
import { useSession } from "../session/session.js";
import { ThemeToggle } from "../theme/theme-toggle.js";

/** The frame of every page: skip link, header with navigation, the page, a footer. */
export function AppShell() {
  const { session, signOut } = useSession();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <Link to="/" className="brand">
          <img src="/favicon.svg" alt="" width={24} height={24} />
          <span>Perseus</span>
        </Link>
        <nav aria-label="Main">
          <ul className="nav-list">
            <li>
              <Link to="/status" activeProps={{ "aria-current": "page", className: "active" }}>
                System status
              </Link>
            </li>
            {session ? null : (
              <li>
                <Link to="/sign-in" activeProps={{ "aria-current": "page", className: "active" }}>
                  Sign in
                </Link>
              </li>
            )}
          </ul>
        </nav>
        <div className="header-actions">
          {session ? (
            <>
              <span className="muted">
                {session.user.name} · {session.tenant.name}
              </span>
              <button type="button" className="button button-ghost" onClick={signOut}>
                Sign out
              </button>
            </>
          ) : null}
          <ThemeToggle />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
      <footer className="app-footer muted">Perseus — people and robots, working together in chat.</footer>
    </>
  );
}
