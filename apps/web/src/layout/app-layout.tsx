import { Link, Outlet, useLocation, useNavigate } from "@tanstack/react-router";
import { useEffect, useId, useState } from "react";
import { useSession } from "../session/session.js";
import { visibleNav } from "./nav-items.js";

/** The signed-in console: side navigation (a menu on narrow screens) and the page. */
export function AppLayout() {
  const { status, role } = useSession();
  const location = useLocation();
  const [open, setOpen] = useState(false);
  const navId = useId();

  const navigate = useNavigate();
  const href = location.href;

  // A page change closes the narrow-screen menu.
  useEffect(() => setOpen(false), [location.pathname]);

  // The session ended under us (refused refresh, sign-out elsewhere): sign in again, once,
  // and come back here afterwards.
  useEffect(() => {
    if (status === "signed-out") void navigate({ to: "/sign-in", search: { redirect: href }, replace: true });
    // Only the transition matters, not every location change during the navigation.
  }, [status]);

  if (status === "signed-out") return null;

  return (
    <div className="app-body">
      <button
        type="button"
        className="button button-ghost nav-toggle"
        aria-expanded={open}
        aria-controls={navId}
        onClick={() => setOpen((value) => !value)}
      >
        Menu
      </button>
      <nav id={navId} aria-label="Main" className={`side-nav${open ? " open" : ""}`}>
        {visibleNav(role).map(({ section, items }) => {
          return (
            <div key={section} className="nav-section">
              <h2 className="nav-heading">{section}</h2>
              <ul className="nav-list">
                {items.map((item) => (
                  <li key={`${item.to}`}>
                    <Link
                      to={item.to}
                      activeOptions={{ exact: item.exact ?? false }}
                      activeProps={{ "aria-current": "page", className: "active" }}
                    >
                      {item.label}
                    </Link>
                  </li>
                ))}
              </ul>
            </div>
          );
        })}
      </nav>
      <main id="main" tabIndex={-1} className="app-main">
        <Outlet />
      </main>
    </div>
  );
}
