// `npm test` runs this before vitest: it finds a Chromium for the browser tests, installs Debian's as
// root on Debian, or stops with one line saying what to install (never a silent skip).
import { ensureChromium } from './chromium.js';

try {
  ensureChromium();
} catch (err) {
  console.error(`barenet: ${(err as Error).message}`);
  process.exit(1);
}
