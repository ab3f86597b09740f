import { getAccessToken } from "../session/session.js";
import { createApiClient } from "./client.js";

/** The console's API client: same origin as the console (the edge), bearer token from the session. */
export const api = createApiClient({ getAccessToken });
