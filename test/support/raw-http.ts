/**
 * HTTP requests from a chosen loopback source address (each address stands for one client of the
 * edge's per-address limits), with any method and headers, and the answer's body kept as text. A
 * stream answer (200 text/event-stream) stays open until `close()`.
 *
 * @example
 *   const answer = await request(`${base}/api/channels/${c}/messages`, { method: "POST", from: "127.0.0.2", body: "hi" });
 *   answer.status; // 201
 *   const stream = await request(`${base}/api/channels/${c}/events`, { from: "127.0.0.3" });
 *   stream.close();
 */
import http from "node:http";

export interface RawAnswer {
	status: number;
	headers: http.IncomingHttpHeaders;
	/** The body as text; for an open stream, what arrived so far. */
	text: string;
	/** The body parsed as JSON (undefined when it is not JSON). */
	json: { type?: string; code?: number; data?: Record<string, unknown> } & Record<string, unknown>;
	/** True once the answer ended (always, except for an open stream). */
	ended: boolean;
	/** Drops the connection. */
	close(): void;
}

export interface RawRequestOptions {
	method?: string;
	/** The source address: a client of its own. Default 127.0.0.1. */
	from?: string;
	headers?: Record<string, string>;
	/** A text body, sent as text/plain unless `headers` names a Content-Type. */
	body?: string;
}

export function request(url: string, options: RawRequestOptions = {}): Promise<RawAnswer> {
	const headers: Record<string, string> = { ...options.headers };
	if (options.body !== undefined && !Object.keys(headers).some(h => h.toLowerCase() === "content-type"))
		headers["Content-Type"] = "text/plain";
	return new Promise((resolve, reject) => {
		const req = http.request(url, { method: options.method ?? "GET", headers, agent: false, localAddress: options.from }, res => {
			const answer: RawAnswer = {
				status: res.statusCode ?? 0,
				headers: res.headers,
				text: "",
				json: {},
				ended: false,
				close: () => req.destroy(),
			};
			res.setEncoding("utf8");
			res.on("data", (chunk: string) => {
				answer.text += chunk;
			});
			res.on("close", () => {
				answer.ended = true;
			});
			const isStream = (res.headers["content-type"] ?? "").startsWith("text/event-stream");
			if (isStream) return resolve(answer);
			res.on("end", () => {
				try {
					answer.json = JSON.parse(answer.text);
				} catch {
					// not JSON: `text` has it
				}
				answer.ended = true;
				resolve(answer);
			});
		});
		req.on("error", reject);
		req.end(options.body);
	});
}
