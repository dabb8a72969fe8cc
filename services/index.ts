/** Every service schema by name, for the launcher's SERVICES list. */
import type { ServiceSchema } from "moleculer";
import type { ServiceName } from "../src/config";
import api from "./api.service";
import broadcast from "./broadcast.service";
import history from "./history.service";
import ingest from "./ingest.service";

// Each schema has its own settings type; the launcher only needs "a schema".
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const SERVICE_SCHEMAS: Record<ServiceName, ServiceSchema<any, any, any, any>> = { api, ingest, history, broadcast };
