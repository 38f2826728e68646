// Cross-origin isolation for the built page on hosts that send no COOP/COEP headers: registers
// coi-sw.js (coi-sw.ts), which adds them, then reloads once so the page loads under its control.
// Where the server sends them (`npm run web`, `vite preview`) the page is isolated already and this does nothing.

const RELOADED = 'barenet-coi-reload';

/** Resolves when the page can go on (isolated, or cannot be); never resolves when it is about to reload. */
export async function crossOriginIsolate(): Promise<void> {
  if (crossOriginIsolated) return sessionStorage.removeItem(RELOADED); // a later uncontrolled load may reload again
  if (!window.isSecureContext || !('serviceWorker' in navigator)) return;
  const reg = await navigator.serviceWorker.register('./coi-sw.js').catch(() => null);
  // Controlled and still not isolated, or reloaded once already: the worker cannot help; one thread.
  if (!reg || navigator.serviceWorker.controller || sessionStorage.getItem(RELOADED)) return;
  sessionStorage.setItem(RELOADED, '1');
  if (!reg.active) await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
  location.reload();
  return new Promise(() => {});
}
