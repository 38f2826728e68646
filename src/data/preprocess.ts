// A drawn digit → an MNIST-like image, the way MNIST itself was made: the ink's bounding box scaled
// (aspect ratio kept, area-averaged) to fit a 20×20 box, then placed in the 28×28 field so that its
// centre of mass is at the centre. Light ink on black in and out. Pure: the page and tests use it.

export interface PreprocessOptions {
  /** Output size; default 28×28. */
  rows?: number;
  cols?: number;
  /** The box the ink is scaled into; default 20/28 of the smaller side (20 for 28×28). */
  box?: number;
  /** Pixels above this count as ink for the bounding box; default 0. */
  threshold?: number;
}

/** Gray = luminance × alpha (a transparent pixel is black), from RGBA bytes as canvas getImageData gives. */
export function grayFromRgba(rgba: ArrayLike<number>, width: number, height: number): Uint8Array {
  const gray = new Uint8Array(width * height);
  for (let i = 0; i < gray.length; i++) {
    const r = rgba[4 * i];
    const g = rgba[4 * i + 1];
    const b = rgba[4 * i + 2];
    const a = rgba[4 * i + 3];
    gray[i] = Math.round(((0.299 * r + 0.587 * g + 0.114 * b) * a) / 255);
  }
  return gray;
}

/** The smallest box holding every pixel above `threshold`, or null if there is none. */
export function inkBounds(gray: ArrayLike<number>, width: number, height: number, threshold = 0) {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (gray[y * width + x] > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** Area-averaging resample of `n` values at `stride` apart, starting at `src[start]`, to `m` values. */
function resample1d(src: Float64Array, start: number, stride: number, n: number, m: number, dst: Float64Array, dStart: number, dStride: number): void {
  const s = n / m; // source pixels per destination pixel
  for (let j = 0; j < m; j++) {
    const a = j * s;
    const b = a + s;
    let sum = 0;
    for (let i = Math.floor(a); i < Math.min(n, Math.ceil(b)); i++) {
      const overlap = Math.min(b, i + 1) - Math.max(a, i);
      sum += src[start + i * stride] * overlap;
    }
    dst[dStart + j * dStride] = sum / s;
  }
}

/** Scales a width×height float image to w×h by area averaging (separable: rows, then columns). */
function resize(src: Float64Array, width: number, height: number, w: number, h: number): Float64Array {
  const tmp = new Float64Array(w * height);
  for (let y = 0; y < height; y++) resample1d(src, y * width, 1, width, w, tmp, y * w, 1);
  const out = new Float64Array(w * h);
  for (let x = 0; x < w; x++) resample1d(tmp, x, w, height, h, out, x, w);
  return out;
}

/** MNIST preprocessing of a width×height gray image (light ink on black) → rows·cols bytes. */
export function preprocessDigit(gray: ArrayLike<number>, width: number, height: number, opts: PreprocessOptions = {}): Uint8Array {
  const rows = opts.rows ?? 28;
  const cols = opts.cols ?? 28;
  const box = opts.box ?? Math.round((20 / 28) * Math.min(rows, cols));
  const out = new Uint8Array(rows * cols);
  const bb = inkBounds(gray, width, height, opts.threshold ?? 0);
  if (!bb) return out;

  const crop = new Float64Array(bb.width * bb.height);
  for (let y = 0; y < bb.height; y++) {
    for (let x = 0; x < bb.width; x++) crop[y * bb.width + x] = gray[(bb.y + y) * width + bb.x + x];
  }
  const scale = box / Math.max(bb.width, bb.height);
  const w = Math.max(1, Math.round(bb.width * scale));
  const h = Math.max(1, Math.round(bb.height * scale));
  const small = resize(crop, bb.width, bb.height, w, h);

  // Centre of mass in pixel indices, moved to index (cols/2, rows/2) as MNIST did (14, 14 for 28×28).
  let mass = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = small[y * w + x];
      mass += v;
      mx += v * x;
      my += v * y;
    }
  }
  const dx = Math.round(cols / 2 - (mass > 0 ? mx / mass : (w - 1) / 2));
  const dy = Math.round(rows / 2 - (mass > 0 ? my / mass : (h - 1) / 2));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const X = x + dx;
      const Y = y + dy;
      if (X >= 0 && X < cols && Y >= 0 && Y < rows) out[Y * cols + X] = Math.min(255, Math.round(small[y * w + x]));
    }
  }
  return out;
}
