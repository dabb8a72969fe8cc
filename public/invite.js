// The invite link: a panel that shows it, and buttons that copy it (the clipboard API where the
// page may use it, else the selected field and execCommand, else the user copies it by hand).

const COPIED_LABEL_MS = 2000;

/**
 * @example
 *   const invite = new InvitePanel(els, inviteLink(channel));
 *   invite.open("New channel created");
 */
export class InvitePanel {
	/**
	 * @param {{ button: HTMLButtonElement, panel: HTMLElement, title: HTMLElement, link: HTMLInputElement,
	 *   copy: HTMLButtonElement, close: HTMLButtonElement, feedback: HTMLElement }} els
	 * @param {string} link
	 */
	constructor(els, link) {
		this.els = els;
		this.link = link;
		els.link.value = link;
		els.button.hidden = false;
		els.button.addEventListener("click", () => this.copy());
		els.copy.addEventListener("click", () => this.copy());
		els.close.addEventListener("click", () => {
			els.panel.hidden = true;
			els.button.focus();
		});
		els.link.addEventListener("focus", () => els.link.select());
	}

	open(title) {
		this.els.title.textContent = title;
		this.els.feedback.textContent = "";
		this.els.panel.hidden = false;
	}

	async copy() {
		const { els } = this;
		let ok = false;
		try {
			if (navigator.clipboard && window.isSecureContext) {
				await navigator.clipboard.writeText(this.link);
				ok = true;
			}
		} catch {
			ok = false;
		}
		if (!ok) {
			els.panel.hidden = false;
			els.link.focus();
			els.link.select();
			try {
				ok = document.execCommand("copy");
			} catch {
				ok = false;
			}
		}
		if (els.panel.hidden) this.open("Invite others");
		els.feedback.textContent = ok
			? "Invite link copied to the clipboard."
			: "Could not copy automatically — the link is selected, copy it with Ctrl+C / ⌘C.";
		if (ok) {
			els.button.textContent = "Link copied";
			setTimeout(() => {
				els.button.textContent = "Copy invite link";
			}, COPIED_LABEL_MS);
		}
	}
}
