// Which part of the page shows: the chat (timeline, composer, invite) or a fatal error instead.

/**
 * @example
 *   const layout = new Layout(els);
 *   layout.showFatal("This channel can't be opened", err.message);
 */
export class Layout {
	/**
	 * @param {{ fatal: HTMLElement, fatalTitle: HTMLElement, fatalDetail: HTMLElement, timelineWrap: HTMLElement,
	 *   composerArea: HTMLElement, invitePanel: HTMLElement, inviteBtn: HTMLElement }} els
	 */
	constructor(els) {
		this.els = els;
	}

	showChat() {
		this.els.fatal.hidden = true;
		this.els.timelineWrap.hidden = false;
		this.els.composerArea.hidden = false;
	}

	/** Replaces the chat with an explanation (text only). */
	showFatal(title, detail) {
		const { els } = this;
		els.fatalTitle.textContent = title;
		els.fatalDetail.textContent = detail;
		els.fatal.hidden = false;
		for (const el of [els.timelineWrap, els.composerArea, els.invitePanel, els.inviteBtn]) el.hidden = true;
	}
}
