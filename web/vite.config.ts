// The page: `npm run web` serves it, `npm run build:web` writes web/dist/. The library is imported as
// `barenet` (its ESM entry, src/index.ts); its .wasm files come along through `new URL(…, import.meta.url)`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { mnistData } from './data-plugin.ts';

const root = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('..', import.meta.url));

// Cross-origin isolation, so SharedArrayBuffer (threads) is available when barenet uses it.
const headers = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

// barenet's Node-only paths (reading files, the relaxed-SIMD flag) are dynamic imports behind an
// `isNode` check: the browser never runs them, so the notes that their node: modules are stubbed are noise.
const rolldownOptions = {
  onLog(level: 'info' | 'warn' | 'debug', log: { message: string }, handler: (level: 'info' | 'warn' | 'debug', log: { message: string }) => void) {
    if (!log.message.includes('externalized for browser compatibility')) handler(level, log);
  },
};

export default defineConfig({
  root,
  base: './',
  resolve: { alias: { barenet: `${repo}src/index.ts` } },
  plugins: [mnistData(`${root}public/data`)],
  server: { headers, fs: { allow: [repo] } },
  preview: { headers },
  worker: { format: 'es', rolldownOptions },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    rolldownOptions: {
      ...rolldownOptions,
      // The service worker sits at the site's root, unhashed: its scope is its folder, and isolate.ts registers it by name.
      input: { index: `${root}index.html`, 'coi-sw': `${root}coi-sw.ts` },
      output: { entryFileNames: (chunk: { name: string }) => (chunk.name === 'coi-sw' ? '[name].js' : 'assets/[name]-[hash].js') },
    },
  },
});
