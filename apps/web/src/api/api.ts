import { getAccessToken, sessionStore } from "../session/session.js";
import { createApiClient } from "./client.js";

/**
 * The console's API client: same origin as the console (the edge), bearer token from the
 * session; a 401 triggers one refresh and one retry, and a failed refresh signs out.
 */
export const api = createApiClient({ getAccessToken, onUnauthorized: (used) => sessionStore.recover(used) });
