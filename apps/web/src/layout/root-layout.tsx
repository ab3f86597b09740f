import { Link, Outlet } from "@tanstack/react-router";
import { AccountMenu } from "../features/session/account-menu.js";
import { ThemeToggle } from "../theme/theme-toggle.js";

/** The frame of every page: skip link, header (brand, account, theme) and the page. */
export function RootLayout() {
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
        <div className="header-actions">
          <AccountMenu />
          <ThemeToggle />
        </div>
      </header>
      <Outlet />
    </>
  );
}
