import { QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "@tanstack/react-router";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createQueryClient } from "./api/query-client.js";
import { createAppRouter } from "./router.js";
import { SessionProvider, sessionStore } from "./session/session.js";
import { applyThemePreference, readThemePreference } from "./theme/theme.js";
import "./styles.css";

// Applied before the first render (an inline script in index.html would break the CSP).
applyThemePreference(readThemePreference());

const queryClient = createQueryClient();
const router = createAppRouter(queryClient);

// Sign in again through the refresh cookie at once; the router guard waits for this.
void sessionStore.start();
// Whatever ended the session (sign-out, a refused refresh), no data of it may linger.
sessionStore.subscribe(() => {
  if (sessionStore.getSnapshot().status === "signed-out") queryClient.clear();
});
const container = document.getElementById("root");
if (!container) throw new Error("#root is missing from index.html");

createRoot(container).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <SessionProvider>
        <RouterProvider router={router} />
      </SessionProvider>
    </QueryClientProvider>
  </StrictMode>,
);
