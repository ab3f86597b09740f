import { authRoutes } from "@perseus/contracts";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "@tanstack/react-router";
import { api } from "../../api/api.js";
import { useSession } from "../../session/session.js";

/**
 * Sign out (this session or all of them) and switch tenant. Every change of who is signed
 * in, or where, drops the query cache so no screen shows the previous tenant's data.
 */
export function useSessionActions() {
  const { store } = useSession();
  const queryClient = useQueryClient();
  const navigate = useNavigate();

  const leave = async () => {
    store.signOut();
    queryClient.clear();
    await navigate({ to: "/sign-in", search: {} });
  };

  const signOut = useMutation({
    mutationFn: () => api.call("/api/auth", authRoutes.logout),
    // The cookie may already be gone: forget the session here whatever the server said.
    onSettled: leave,
  });
  const signOutEverywhere = useMutation({
    mutationFn: () => api.call("/api/auth", authRoutes.logoutAll),
    onSuccess: leave,
  });
  const switchTenant = useMutation({
    mutationFn: (tenantId: string) => api.call("/api/auth", authRoutes.switchTenant, { body: { tenantId } }),
    onSuccess: async (session) => {
      store.signIn(session);
      queryClient.clear();
      await navigate({ to: "/" });
    },
  });
  return { signOut, signOutEverywhere, switchTenant };
}
