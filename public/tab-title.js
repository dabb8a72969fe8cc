// The tab title counts messages that arrived while the tab was in the background: "(3) Chatcast".

const TITLE = "Chatcast";

/**
 * @example
 *   const title = new UnreadTitle();
 *   title.add(timeline.addMessages([msg]));
 */
export class UnreadTitle {
	constructor(doc = document) {
		this.doc = doc;
		this.unread = 0;
		doc.title = TITLE;
		doc.addEventListener("visibilitychange", () => {
			if (!doc.hidden) {
				this.unread = 0;
				doc.title = TITLE;
			}
		});
	}

	/** `n` new messages arrived; they count only while the tab is hidden. */
	add(n) {
		if (!n || !this.doc.hidden) return;
		this.unread += n;
		this.doc.title = `(${this.unread}) ${TITLE}`;
	}
}
