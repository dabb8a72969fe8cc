// One message as a list item. Author and text are only ever inserted as text.

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayTimeFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

/**
 * Builds the `<li class="msg">` for a normalized message (see normalizeMessage in timeline.js).
 * @example
 *   list.append(renderMessage({ seq: 1, author: "Ann", text: "<b>hi</b>", sentAt: new Date() }, false));
 * @param {{ seq: number, author: string, text: string, sentAt: Date | null }} msg
 * @param {boolean} mine
 */
export function renderMessage(msg, mine) {
	const li = document.createElement("li");
	li.className = "msg";
	li.dataset.seq = String(msg.seq);

	const bubble = document.createElement("article");
	bubble.className = "bubble";

	const meta = document.createElement("p");
	meta.className = "meta";
	const author = document.createElement("span");
	author.className = "author";
	author.textContent = msg.author;
	meta.append(author);
	const you = document.createElement("span");
	you.className = "you";
	you.textContent = " (you)";
	meta.append(you);
	if (msg.sentAt) {
		meta.append(document.createTextNode(" "));
		const time = document.createElement("time");
		time.className = "time";
		time.dateTime = msg.sentAt.toISOString();
		time.title = fullFmt.format(msg.sentAt);
		time.textContent = formatTime(msg.sentAt);
		meta.append(time);
	}

	const text = document.createElement("p");
	text.className = "text";
	text.textContent = msg.text;

	bubble.append(meta, text);
	li.append(bubble);
	setMine(li, mine);
	return li;
}

/** Styles a rendered message as this browser's own or someone else's. */
export function setMine(li, mine) {
	li.classList.toggle("mine", mine);
	li.classList.toggle("theirs", !mine);
}

function formatTime(date) {
	const now = new Date();
	const sameDay =
		date.getFullYear() === now.getFullYear() && date.getMonth() === now.getMonth() && date.getDate() === now.getDate();
	return sameDay ? timeFmt.format(date) : dayTimeFmt.format(date);
}
