/**
 * A minimal PNG reader for checking screenshots (8-bit, non-interlaced RGB/RGBA/grey — what
 * Chromium produces). Enough to tell a real rendering from a blank page, no dependency needed.
 */
import { inflateSync } from "node:zlib";

export interface DecodedPng {
	width: number;
	height: number;
	/** Bytes per pixel: 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA). */
	channels: number;
	pixels: Buffer;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

export function decodePng(file: Buffer): DecodedPng {
	if (file.length < 8 || !file.subarray(0, 8).equals(SIGNATURE)) throw new Error("not a PNG file");
	let width = 0;
	let height = 0;
	let channels = 0;
	const idat: Buffer[] = [];
	for (let off = 8; off + 8 <= file.length; ) {
		const length = file.readUInt32BE(off);
		const type = file.toString("ascii", off + 4, off + 8);
		const data = file.subarray(off + 8, off + 8 + length);
		if (type === "IHDR") {
			width = data.readUInt32BE(0);
			height = data.readUInt32BE(4);
			const bitDepth = data[8];
			const colorType = data[9];
			const interlace = data[12];
			channels = CHANNELS[colorType] ?? 0;
			if (bitDepth !== 8 || interlace !== 0 || channels === 0) {
				throw new Error(`unsupported PNG (bit depth ${bitDepth}, colour type ${colorType}, interlace ${interlace})`);
			}
		} else if (type === "IDAT") {
			idat.push(data);
		} else if (type === "IEND") {
			break;
		}
		off += 12 + length;
	}
	if (!width || !height) throw new Error("PNG without IHDR");

	const raw = inflateSync(Buffer.concat(idat));
	const stride = width * channels;
	const pixels = Buffer.alloc(height * stride);
	for (let y = 0; y < height; y++) {
		const filter = raw[y * (stride + 1)];
		const line = y * (stride + 1) + 1;
		const row = y * stride;
		const prev = row - stride;
		for (let x = 0; x < stride; x++) {
			const left = x >= channels ? pixels[row + x - channels] : 0;
			const up = y > 0 ? pixels[prev + x] : 0;
			const upLeft = y > 0 && x >= channels ? pixels[prev + x - channels] : 0;
			let predictor = 0;
			if (filter === 1) predictor = left;
			else if (filter === 2) predictor = up;
			else if (filter === 3) predictor = (left + up) >> 1;
			else if (filter === 4) {
				const p = left + up - upLeft;
				const pa = Math.abs(p - left);
				const pb = Math.abs(p - up);
				const pc = Math.abs(p - upLeft);
				predictor = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
			} else if (filter !== 0) throw new Error(`bad PNG filter ${filter} on row ${y}`);
			pixels[row + x] = (raw[line + x] + predictor) & 0xff;
		}
	}
	return { width, height, channels, pixels };
}

/** How "busy" an image is: the number of distinct colours and the spread of its brightness. */
export function imageStats(img: DecodedPng): { distinctColors: number; lumaStdDev: number } {
	const colours = new Set<number>();
	let sum = 0;
	let sumSq = 0;
	const n = img.width * img.height;
	for (let i = 0; i < n; i++) {
		const o = i * img.channels;
		const r = img.pixels[o];
		const g = img.channels >= 3 ? img.pixels[o + 1] : r;
		const b = img.channels >= 3 ? img.pixels[o + 2] : r;
		colours.add((r << 16) | (g << 8) | b);
		const luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
		sum += luma;
		sumSq += luma * luma;
	}
	const mean = sum / n;
	return { distinctColors: colours.size, lumaStdDev: Math.sqrt(Math.max(0, sumSq / n - mean * mean)) };
}
