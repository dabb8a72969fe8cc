/**
 * Moleculer's Prometheus reporter, listening with SO_REUSEPORT.
 *
 * Under pm2 each instance n scrapes on METRICS_PORT + n. During `pm2 reload` the new process of slot n
 * starts before the old one has exited; with reusePort both can hold the port for that moment (the
 * kernel hands each scrape to one of them) instead of the new one failing to start.
 *
 * Moleculer's typings name reporters by their built-in type only, so this one takes the name "Prometheus"
 * in Moleculer's reporter table (once this module is loaded, every Prometheus reporter shares its port).
 *
 * @example
 *   metrics: { enabled: true, reporter: { type: SHARED_PORT_PROMETHEUS, options: { port: 9100 } } }
 */
import http from "node:http";
import { MetricReporters, type MetricRegistry } from "moleculer";

const { Base, Prometheus } = MetricReporters;

export class SharedPortPrometheusReporter extends Prometheus {
	/** Labels on every series; set in init, as the parent class does (its typings omit the field). */
	declare defaultLabels: Record<string, unknown> | undefined;

	override init(registry: MetricRegistry): void {
		Base.prototype.init.call(this, registry);
		const labels = this.opts.defaultLabels;
		this.defaultLabels = typeof labels === "function" ? labels.call(this, registry) : labels;
		this.server = http.createServer((req, res) => this.handler(req, res));
		this.server.on("error", err => this.logger.error(`Metrics endpoint cannot listen on port ${this.opts.port}:`, err.message));
		this.server.listen({ port: this.opts.port, host: this.opts.host ?? undefined, reusePort: true }, () => {
			this.logger.info(`Prometheus metrics on http://${this.opts.host ?? "0.0.0.0"}:${this.opts.port}${this.opts.path}`);
		});
	}
}

/** The reporter type to name in broker options: Moleculer resolves it to SharedPortPrometheusReporter. */
export const SHARED_PORT_PROMETHEUS = "Prometheus";
MetricReporters.Prometheus = SharedPortPrometheusReporter;
