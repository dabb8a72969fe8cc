// Who is writing: asks for a nickname before the first message (and on "Change name"), and shows
// the composer once there is one. The nickname is kept in this browser (session.js).

import { NICK_MAX, cleanNickname, loadNickname, saveNickname } from "./session.js";

/**
 * @example
 *   const nick = new NicknameForm(els, { onChange: () => timeline.refreshOwnership() });
 *   nick.value; // "" until chosen
 */
export class NicknameForm {
	/**
	 * @param {{ form: HTMLFormElement, input: HTMLInputElement, cancel: HTMLButtonElement, error: HTMLElement,
	 *   renameBtn: HTMLButtonElement, composer: HTMLElement, composerNick: HTMLElement }} els
	 * @param {{ onChange: (nickname: string) => void }} handlers
	 */
	constructor(els, { onChange }) {
		this.els = els;
		this.value = loadNickname();

		els.input.maxLength = NICK_MAX;
		els.form.addEventListener("submit", ev => {
			ev.preventDefault();
			const value = cleanNickname(els.input.value);
			if (!value) {
				els.error.textContent = "Please enter a nickname.";
				els.input.setAttribute("aria-invalid", "true");
				els.input.focus();
				return;
			}
			els.input.removeAttribute("aria-invalid");
			this.value = value;
			saveNickname(value);
			this.showComposer();
			onChange(value);
		});
		els.cancel.addEventListener("click", () => {
			this.showComposer();
			els.renameBtn.focus();
		});
		els.renameBtn.addEventListener("click", () => this.ask(true));
		els.form.addEventListener("keydown", ev => {
			if (ev.key === "Escape" && !els.cancel.hidden) {
				ev.preventDefault();
				els.cancel.click();
			}
		});

		if (this.value) this.showComposer();
		else this.ask(false);
	}

	/** Shows the nickname form instead of the composer; `canCancel` when there is a nickname to go back to. */
	ask(canCancel) {
		const { els } = this;
		els.input.value = this.value;
		els.error.textContent = "";
		els.cancel.hidden = !canCancel;
		els.form.hidden = false;
		els.composer.hidden = true;
		els.input.focus();
	}

	/** Signed in: the token's name is the author, shown and not changeable here. */
	useIdentity(name) {
		this.value = name;
		this.els.renameBtn.hidden = true;
		this.showComposer();
	}

	/** Hides both the nickname form and the composer (sign-in comes first). */
	hide() {
		this.els.form.hidden = true;
		this.els.composer.hidden = true;
	}

	/** Re-reads the nickname (another tab of this browser may have changed it). */
	reload() {
		this.value = loadNickname();
		if (this.value) this.showComposer();
	}

	showComposer() {
		this.els.form.hidden = true;
		this.els.composer.hidden = false;
		this.els.composerNick.textContent = this.value;
	}
}
