// Shared by the browser test and the B1 benchmark: build the page, serve it with `vite preview` on
// 127.0.0.1 (a free port), and start a Chromium (chromium.ts finds it) through playwright-core.
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { findChromium } from './chromium.js';

const configFile = fileURLToPath(new URL('../vite.config.ts', import.meta.url));

export interface Served {
  url: string;
  close(): Promise<void>;
}

/** Builds web/dist/ (MNIST data included) and serves it; `url` ends in `/`. */
export async function buildAndPreview(): Promise<Served> {
  await build({ configFile, logLevel: 'warn' });
  const server: PreviewServer = await preview({ configFile, logLevel: 'warn', preview: { host: '127.0.0.1', port: 0, strictPort: true } });
  const address = server.httpServer.address();
  if (!address || typeof address === 'string') throw new Error('vite preview: no TCP address');
  return { url: `http://127.0.0.1:${address.port}/`, close: () => server.close() };
}

/** Headless Chromium; a missing browser is an error that says what to install. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: findChromium(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
