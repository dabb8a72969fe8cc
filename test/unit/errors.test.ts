import { Errors } from "moleculer";
import { chatError, ERROR_CATALOGUE, toErrorBody } from "../../src/errors";

describe("error bodies", () => {
	test("every catalogue entry has its status, a message and its type", () => {
		for (const [type, entry] of Object.entries(ERROR_CATALOGUE)) {
			const body = toErrorBody(chatError(type as keyof typeof ERROR_CATALOGUE));
			expect(body).toEqual({
				name: entry.status < 500 ? "MoleculerClientError" : "MoleculerError",
				message: entry.message,
				code: entry.status,
				type,
			});
		}
	});

	test("data travels with the error", () => {
		expect(toErrorBody(chatError("INVALID_CHANNEL", { channel: "x" })).data).toEqual({ channel: "x" });
	});

	test("body-parser errors map to stable types", () => {
		expect(toErrorBody(Object.assign(new Error("too big"), { status: 413, type: "entity.too.large" }))).toMatchObject({
			code: 413,
			type: "BODY_TOO_LARGE",
		});
		expect(toErrorBody(Object.assign(new Error("bad"), { status: 400, type: "entity.parse.failed" }))).toMatchObject({
			code: 400,
			type: "INVALID_JSON",
		});
	});

	test("Moleculer's errors keep their code and type; 'no node' becomes 503", () => {
		expect(toErrorBody(new Errors.ValidationError("bad", "VALIDATION_ERROR", []))).toMatchObject({
			code: 422,
			type: "VALIDATION_ERROR",
		});
		expect(toErrorBody(new Errors.ServiceNotFoundError({ action: "history.append" }))).toMatchObject({
			code: 503,
			type: "SERVICE_UNAVAILABLE",
		});
	});

	test("anything else is a 500 that leaks nothing", () => {
		expect(toErrorBody(new TypeError("secret internals"))).toEqual({
			name: "MoleculerError",
			message: "Internal server error.",
			code: 500,
			type: "INTERNAL_ERROR",
		});
		expect(toErrorBody(undefined)).toMatchObject({ code: 500, type: "INTERNAL_ERROR" });
	});
});
