// How `npm test` gets its Chromium (web/scripts/chromium.ts), over injected probes: one found is used, as
// root on Debian it installs Debian's chromium (saying so in one line), otherwise one line says what to install.
import { describe, expect, it } from 'vitest';
import { ENV_VAR, INSTALL, ensureChromium, findChromium, planChromium, type CommandResult, type Probes } from '../web/scripts/chromium.js';

const PLAYWRIGHT = '/root/.cache/ms-playwright/chromium-1/chrome-linux64/chrome';

/** A machine with the given executables: a Debian root machine unless overridden. */
function probes(files: string[], over: Partial<Probes> = {}): Probes & { files: Set<string> } {
  const set = new Set(files);
  return {
    files: set,
    env: {},
    platform: 'linux',
    isRoot: true,
    isDebian: true,
    executable: (p) => set.has(p),
    which: (n) => ['/usr/local/bin', '/usr/bin'].map((d) => `${d}/${n}`).find((p) => set.has(p)) ?? null,
    playwrightChromium: () => PLAYWRIGHT,
    ...over,
  };
}

describe('finding a Chromium', () => {
  it('uses one on PATH, in the search order, without installing', () => {
    expect(planChromium(probes(['/usr/bin/chromium']))).toEqual({ kind: 'found', path: '/usr/bin/chromium' });
    expect(planChromium(probes(['/usr/bin/google-chrome', '/usr/local/bin/chromium-browser']))).toEqual({ kind: 'found', path: '/usr/local/bin/chromium-browser' });
    expect(planChromium(probes([PLAYWRIGHT]))).toEqual({ kind: 'found', path: PLAYWRIGHT });
    expect(planChromium(probes(['/Applications/Google Chrome.app/Contents/MacOS/Google Chrome'], { platform: 'darwin', isDebian: false }))).toEqual({
      kind: 'found',
      path: '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
    });
    const runs: string[][] = [];
    expect(ensureChromium(probes(['/usr/bin/chromium']), (c) => (runs.push(c), { status: 0, stderr: '' }), () => {})).toBe('/usr/bin/chromium');
    expect(runs).toEqual([]);
  });

  it(`takes ${ENV_VAR} first, and says so when it points nowhere`, () => {
    expect(planChromium(probes(['/usr/bin/chromium', '/opt/chrome'], { env: { [ENV_VAR]: '/opt/chrome' } }))).toEqual({ kind: 'found', path: '/opt/chrome' });
    expect(planChromium(probes(['/usr/bin/chromium'], { env: { [ENV_VAR]: '/opt/none' } }))).toEqual({
      kind: 'missing',
      message: `${ENV_VAR}=/opt/none: no executable there; point it at a Chromium or Chrome binary`,
    });
  });

  it("installs Debian's chromium as root on Debian, announcing it in one line, then uses it", () => {
    const m = probes([]);
    const runs: string[][] = [];
    const said: string[] = [];
    const run = (c: string[]): CommandResult => {
      runs.push(c);
      if (c.includes('install')) m.files.add('/usr/bin/chromium');
      return { status: 0, stderr: '' };
    };
    expect(ensureChromium(m, run, (l) => said.push(l))).toBe('/usr/bin/chromium');
    expect(runs).toEqual(INSTALL);
    expect(runs.map((c) => c.join(' '))).toEqual(['apt-get update -qq', 'apt-get install -y -qq --no-install-recommends chromium']);
    expect(said).toEqual(["barenet: no Chromium found: installing Debian's chromium for the browser tests (apt-get install chromium)"]);
  });

  it('fails with one line when the install fails or installs nothing usable', () => {
    const failing = () => ({ status: 100, stderr: 'Reading package lists...\nE: Unable to locate package chromium\n' });
    expect(() => ensureChromium(probes([]), failing, () => {})).toThrow(
      "`apt-get update -qq` failed (E: Unable to locate package chromium): install Debian's chromium (apt-get install -y chromium) and run npm test again",
    );
    expect(() => ensureChromium(probes([]), () => ({ status: 0, stderr: '' }), () => {})).toThrow(
      "apt-get installed chromium but no Chromium was found on PATH: install Debian's chromium (apt-get install -y chromium)",
    );
  });

  it('cannot install: not root, or not Debian: one line saying what to install, and nothing run', () => {
    const runs: string[][] = [];
    const run = (c: string[]) => (runs.push(c), { status: 0, stderr: '' });
    const notRoot = "no Chromium found: the browser tests need Debian's chromium: run `sudo apt-get install -y chromium` (or set BARENET_CHROMIUM to a Chromium binary)";
    expect(() => ensureChromium(probes([], { isRoot: false }), run, () => {})).toThrow(notRoot);
    const other = 'no Chromium found: the browser tests need Chromium or Google Chrome: install one (or set BARENET_CHROMIUM to its binary)';
    expect(() => ensureChromium(probes([], { isDebian: false }), run, () => {})).toThrow(other);
    expect(() => ensureChromium(probes([], { platform: 'darwin', isDebian: false }), run, () => {})).toThrow(other);
    expect(runs).toEqual([]);
    for (const m of [notRoot, other]) expect(m).not.toContain('\n');
  });

  it('the browser test itself only finds (npm test installed it before), never installs', () => {
    expect(findChromium(probes(['/usr/bin/chromium']))).toBe('/usr/bin/chromium');
    expect(() => findChromium(probes([]))).toThrow("no Chromium found: run `npm test` (it installs Debian's chromium as root) or `apt-get install -y chromium`");
    expect(() => findChromium(probes([], { isRoot: false }))).toThrow('sudo apt-get install -y chromium');
  });
});
