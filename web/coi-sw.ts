// A service worker that makes the built page cross-origin isolated on any static host: it adds COOP/COEP
// to the page's own (same-origin) responses, which most static hosts do not send. Isolation gives the
// page SharedArrayBuffer, hence threads. isolate.ts registers it and reloads once under its control.

/** The parts of ServiceWorkerGlobalScope used here (the page compiles with the DOM lib, which has none). */
interface SwEvent extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface SwFetchEvent extends SwEvent {
  readonly request: Request;
  respondWith(r: Promise<Response>): void;
}
const sw = self as unknown as {
  location: Location;
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void> };
  addEventListener(type: 'install' | 'activate', f: (e: SwEvent) => void): void;
  addEventListener(type: 'fetch', f: (e: SwFetchEvent) => void): void;
};

sw.addEventListener('install', () => void sw.skipWaiting());
sw.addEventListener('activate', (e) => e.waitUntil(sw.clients.claim()));

sw.addEventListener('fetch', (e) => {
  const req = e.request;
  if (new URL(req.url).origin !== sw.location.origin) return;
  if (req.cache === 'only-if-cached' && req.mode !== 'same-origin') return; // such fetches throw
  e.respondWith(
    fetch(req).then((res) => {
      if (res.status === 0) return res; // opaque: its headers cannot be changed
      const headers = new Headers(res.headers);
      headers.set('Cross-Origin-Opener-Policy', 'same-origin');
      headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
    }),
  );
});
