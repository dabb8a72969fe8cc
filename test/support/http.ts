/** Small helpers for driving the HTTP API in tests. */
import type { ChatMessage } from "../../src/message";

export interface Answer<T = unknown> {
	status: number;
	body: T;
	headers: Headers;
}

/** POSTs a JSON (object) or text/plain (string) body. */
export async function post<T = ChatMessage>(url: string, body: unknown, contentType?: string): Promise<Answer<T>> {
	const isText = typeof body === "string";
	const res = await fetch(url, {
		method: "POST",
		headers: { "Content-Type": contentType ?? (isText ? "text/plain" : "application/json") },
		body: isText ? body : JSON.stringify(body),
	});
	const text = await res.text();
	return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
}

export async function get<T = unknown>(url: string, headers: Record<string, string> = {}): Promise<Answer<T>> {
	const res = await fetch(url, { headers });
	const text = await res.text();
	return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
}

/** Publishes `count` messages one after another; returns the stored messages. */
export async function publishMany(baseUrl: string, channel: string, count: number, prefix = "m"): Promise<ChatMessage[]> {
	const sent: ChatMessage[] = [];
	for (let i = 1; i <= count; i++) {
		const answer = await post(`${baseUrl}/api/channels/${channel}/messages`, { text: `${prefix}${i}`, author: "tester" });
		if (answer.status !== 201) throw new Error(`publish ${i} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
		sent.push(answer.body);
	}
	return sent;
}
