// Shared by the browser test and the B1 benchmark: build the page, serve it on 127.0.0.1 (a free port)
// with `vite preview` (which sends COOP/COEP) or as a plain static site (no such headers, as most static
// hosts), and start a Chromium (chromium.ts finds it) through playwright-core.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { findChromium } from './chromium.js';

const configFile = fileURLToPath(new URL('../vite.config.ts', import.meta.url));
/** Where `npm run build:web` writes the site. */
export const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

export interface Served {
  url: string;
  close(): Promise<void>;
}

/** Builds web/dist/ (MNIST data included). */
export async function buildWeb(): Promise<void> {
  await build({ configFile, logLevel: 'warn' });
}

/** Serves web/dist/ with `vite preview`; `url` ends in `/`. */
export async function previewWeb(): Promise<Served> {
  const server: PreviewServer = await preview({ configFile, logLevel: 'warn', preview: { host: '127.0.0.1', port: 0, strictPort: true } });
  const address = server.httpServer.address();
  if (!address || typeof address === 'string') throw new Error('vite preview: no TCP address');
  return { url: `http://127.0.0.1:${address.port}/`, close: () => server.close() };
}

/** Builds web/dist/ and serves it with `vite preview`. */
export async function buildAndPreview(): Promise<Served> {
  await buildWeb();
  return previewWeb();
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
};

/** A plain static file server over `dir`: Content-Type and nothing else, like most static hosts. */
export async function serveStatic(dir: string): Promise<Served> {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(dir, path.endsWith('/') ? `${path}index.html` : path));
    try {
      if (!file.startsWith(normalize(dir))) throw new Error('outside the site');
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Headless Chromium; a missing browser is an error that says what to install. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: findChromium(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
