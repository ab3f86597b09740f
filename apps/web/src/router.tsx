import type { QueryClient } from "@tanstack/react-query";
import {
  createRootRouteWithContext,
  createRoute,
  createRouter,
  lazyRouteComponent,
  redirect,
} from "@tanstack/react-router";
import { z } from "zod";
import { AuditPage } from "./features/admin/audit-page.js";
import { StatusPage } from "./features/admin/status-page.js";
import { chatSearch } from "./features/chat/chat-search.js";
import { ApiKeysPage } from "./features/organisation/api-keys-page.js";
import { InvitesPage } from "./features/organisation/invites-page.js";
import { PeoplePage } from "./features/organisation/people-page.js";
import { TeamsPage } from "./features/organisation/teams-page.js";
import { RobotPage } from "./features/robots/robot-page.js";
import { RobotsPage } from "./features/robots/robots-page.js";
import { InvitePage } from "./features/session/invite-page.js";
import { SignInPage } from "./features/session/sign-in-page.js";
import { SignUpPage } from "./features/session/sign-up-page.js";
import { DeadLettersPage } from "./features/tasks/dead-letters-page.js";
import { TaskPage } from "./features/tasks/task-page.js";
import { TasksPage, tasksSearch } from "./features/tasks/tasks-page.js";
import { workspaceSearch } from "./features/workspace/workspace-search.js";
import { AppLayout } from "./layout/app-layout.js";
import { RootLayout } from "./layout/root-layout.js";
import { HomePage } from "./pages/home-page.js";
import { NotFoundPage } from "./pages/not-found-page.js";
import { sessionStore } from "./session/session.js";

export type RouterContext = { queryClient: QueryClient };

// Code-based routes, one createRoute per page. Signed-in pages hang under `appRoute`.
export const rootRoute = createRootRouteWithContext<RouterContext>()({
  component: RootLayout,
  notFoundComponent: NotFoundPage,
});

const redirectSearch = z.object({ redirect: z.string().optional() });
const signInRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/sign-in",
  validateSearch: redirectSearch,
  component: SignInPage,
});
const signUpRoute = createRoute({ getParentRoute: () => rootRoute, path: "/sign-up", component: SignUpPage });
/** The invite link the auth service hands out: `/invite#<token>` (the token never reaches a server log). */
const inviteRoute = createRoute({ getParentRoute: () => rootRoute, path: "/invite", component: InvitePage });

/** The authenticated layout: waits for the first refresh, then sends strangers to sign in. */
export const appRoute = createRoute({
  getParentRoute: () => rootRoute,
  id: "app",
  beforeLoad: async ({ location }) => {
    const session = await sessionStore.ready();
    if (!session) throw redirect({ to: "/sign-in", search: { redirect: location.href } });
    return { session };
  },
  component: AppLayout,
});

const homeRoute = createRoute({ getParentRoute: () => appRoute, path: "/", component: HomePage });
const teamsRoute = createRoute({ getParentRoute: () => appRoute, path: "/teams", component: TeamsPage });
const peopleRoute = createRoute({ getParentRoute: () => appRoute, path: "/people", component: PeoplePage });
const invitesRoute = createRoute({
  getParentRoute: () => appRoute,
  path: "/invites",
  component: InvitesPage,
});
const apiKeysRoute = createRoute({
  getParentRoute: () => appRoute,
  path: "/api-keys",
  component: ApiKeysPage,
});
const robotsRoute = createRoute({ getParentRoute: () => appRoute, path: "/robots", component: RobotsPage });
export const robotRoute = createRoute({
  getParentRoute: () => appRoute,
  path: "/robots/$robotId",
  component: RobotPage,
});
const tasksRoute = createRoute({
  getParentRoute: () => appRoute,
  path: "/tasks",
  validateSearch: tasksSearch,
  component: TasksPage,
});
export const taskRoute = createRoute({
  getParentRoute: () => appRoute,
  path: "/tasks/$taskId",
  component: TaskPage,
});
const deadLettersRoute = createRoute({
  getParentRoute: () => appRoute,
  path: "/dead-letters",
  component: DeadLettersPage,
});
const auditRoute = createRoute({ getParentRoute: () => appRoute, path: "/audit", component: AuditPage });
const statusRoute = createRoute({ getParentRoute: () => appRoute, path: "/status", component: StatusPage });
const chatRoute = createRoute({
  getParentRoute: () => appRoute,
  path: "/chat",
  validateSearch: chatSearch,
  // Loaded on first visit: markdown and code highlighting are the heaviest part of the console.
  component: lazyRouteComponent(() => import("./features/chat/chat-page.js"), "ChatPage"),
});
const workspaceRoute = createRoute({
  getParentRoute: () => appRoute,
  path: "/workspace",
  validateSearch: workspaceSearch,
  component: lazyRouteComponent(() => import("./features/workspace/workspace-page.js"), "WorkspacePage"),
});

const terminalRoute = createRoute({
  getParentRoute: () => appRoute,
  path: "/terminals/$terminalId",
  // Loaded on first use: xterm stays out of the main bundle.
  component: lazyRouteComponent(() => import("./features/terminal/terminal-page.js"), "TerminalPage"),
});

/** Pages inside the signed-in layout; feature areas append their routes here. */
const appPages = [
  homeRoute,
  teamsRoute,
  peopleRoute,
  invitesRoute,
  apiKeysRoute,
  robotsRoute,
  robotRoute,
  tasksRoute,
  taskRoute,
  deadLettersRoute,
  auditRoute,
  statusRoute,
  chatRoute,
  workspaceRoute,
  terminalRoute,
] as const;

const routeTree = rootRoute.addChildren([
  signInRoute,
  signUpRoute,
  inviteRoute,
  appRoute.addChildren(appPages),
]);

export function createAppRouter(queryClient: QueryClient) {
  return createRouter({
    routeTree,
    context: { queryClient },
    defaultPreload: "intent",
    scrollRestoration: true,
  });
}

declare module "@tanstack/react-router" {
  interface Register {
    router: ReturnType<typeof createAppRouter>;
  }
}
