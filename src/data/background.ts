// Which way round an image's gray levels are: MNIST's digits are light ink on a dark background, scans and
// drawings are mostly dark ink on a light one. A checkpoint records its training images' background, and
// `barenet predict` turns an image round when its background is the other one (--invert auto).
export type Background = 'dark' | 'light';

export function meanPixel(pixels: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < pixels.length; i++) sum += pixels[i];
  return sum / pixels.length;
}

/** 'light' when the mean pixel is above mid-grey (127.5), else 'dark'. */
export const backgroundOf = (pixels: Uint8Array): Background => (meanPixel(pixels) > 127.5 ? 'light' : 'dark');

/** 255 − v for every pixel, in a new array. */
export function invert(pixels: Uint8Array): Uint8Array {
  return pixels.map((v) => 255 - v);
}
