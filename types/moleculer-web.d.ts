/**
 * What moleculer-web accepts but its typings omit. moleculer-web calls `rootCallOptions` when it is a
 * function (src/index.js: `this.settings.rootCallOptions.call(this, options, req, res)`); its typings
 * only know the object form.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { CallingOptions } from "moleculer";

declare module "moleculer-web" {
	/** Sets the root context's calling options (e.g. `requestID`) from the request. */
	export type RootCallOptionsHook = (options: CallingOptions, req: IncomingMessage, res: ServerResponse) => void;

	/** `ApiSettingsSchema` with `rootCallOptions` in either form. */
	export interface GatewaySettings extends Omit<ApiSettingsSchema, "rootCallOptions"> {
		rootCallOptions?: CallingOptions | RootCallOptionsHook;
	}
}
