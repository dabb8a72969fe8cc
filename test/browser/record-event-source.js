// Injected by the browser tests (context.addInitScript) before the page's own scripts; not part of
// the page. Wraps EventSource so a test sees every `message` event the page's streams delivered,
// duplicates included, whatever the page then chose to show.
(() => {
	const Native = window.EventSource;
	const received = [];
	Object.defineProperty(window, "__streamedMessages", { value: received });
	window.EventSource = class extends Native {
		constructor(url, init) {
			super(url, init);
			this.addEventListener("message", ev => received.push({ url: String(url), id: ev.lastEventId, data: ev.data }));
		}
	};
})();
