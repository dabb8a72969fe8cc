/** What Node's HTTP parser refuses before any route runs is answered as JSON with a catalogue type, too. */
import http from "node:http";
import net from "node:net";
import { type InProcessNode, startInProcess } from "../support/in-process";

let node: InProcessNode;

beforeAll(async () => {
	node = await startInProcess({ headersTimeoutMs: 500 });
});

afterAll(() => node.stop());

/** Sends raw bytes, resolves with everything the server answered before it closed. */
function raw(request: string): Promise<string> {
	const { port } = new URL(node.baseUrl);
	return new Promise((resolve, reject) => {
		const socket = net.connect(Number(port), "127.0.0.1", () => socket.write(request));
		let answer = "";
		socket.setEncoding("utf8");
		socket.on("data", (chunk: string) => {
			answer += chunk;
		});
		socket.on("close", () => resolve(answer));
		socket.on("error", reject);
		socket.setTimeout(5000, () => socket.destroy(new Error(`no answer to ${JSON.stringify(request.slice(0, 40))}`)));
	});
}

function parse(answer: string): { status: number; contentType: string; body: { type: string; code: number } } {
	const [head, body] = answer.split("\r\n\r\n");
	return {
		status: Number(head.split(" ")[1]),
		contentType: /content-type: ([^\r]+)/i.exec(head)?.[1] ?? "",
		body: JSON.parse(body),
	};
}

test.each([
	["a bad Content-Length", "POST /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "MALFORMED_REQUEST"],
	[
		"Content-Length with Transfer-Encoding",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		400,
		"MALFORMED_REQUEST",
	],
	["headers over 16 KiB", `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431, "HEADERS_TOO_LARGE"],
	["headers that never end", "GET / HTTP/1.1\r\nHost: x\r\n", 408, "REQUEST_TIMEOUT"],
])("%s: %d %s as JSON", async (_label, request, status, type) => {
	const answer = parse(await raw(request));
	expect(answer.status).toBe(status);
	expect(answer.contentType).toMatch(/^application\/json/);
	expect(answer.body).toMatchObject({ type, code: status });
});

/** A GET of the path exactly as given (fetch would normalise it); resolves with status and JSON body. */
function getRaw(path: string): Promise<{ status: number; body: { type: string; code: number } }> {
	const { port } = new URL(node.baseUrl);
	return new Promise((resolve, reject) => {
		http
			.get({ host: "127.0.0.1", port, path, agent: false }, res => {
				let text = "";
				res.setEncoding("utf8");
				res.on("data", (chunk: string) => {
					text += chunk;
				});
				res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
			})
			.on("error", reject);
	});
}

test.each(["//#@?after=", "//x", "/#"])(
	"odd static paths such as %s are 404 NOT_FOUND, not a 500 from the file server",
	async path => {
		const answer = await getRaw(path);
		expect(answer.status).toBe(404);
		expect(answer.body).toMatchObject({ type: "NOT_FOUND", code: 404 });
	},
);
