// Finds a Chromium for the browser tests, and installs Debian's where `npm test` can (as root on Debian).
// The decision (planChromium) is pure over injected probes, so its three outcomes are unit-tested.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium } from 'playwright-core';

/** An explicit browser binary wins over the search. */
export const ENV_VAR = 'BARENET_CHROMIUM';
const ON_PATH = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];
const MAC_APPS = ['/Applications/Chromium.app/Contents/MacOS/Chromium', '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome'];
export const INSTALL: string[][] = [
  ['apt-get', 'update', '-qq'],
  ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'chromium'],
];

/** What the machine looks like. */
export interface Probes {
  env: Record<string, string | undefined>;
  platform: NodeJS.Platform;
  isRoot: boolean;
  /** /etc/debian_version and apt-get are there. */
  isDebian: boolean;
  /** An executable file at `path`. */
  executable(path: string): boolean;
  /** `name` on PATH, or null. */
  which(name: string): string | null;
  /** Where playwright-core's own downloaded Chromium would be (it may not be there). */
  playwrightChromium(): string;
}

export type Plan =
  | { kind: 'found'; path: string }
  | { kind: 'install'; announce: string; commands: string[][] }
  | { kind: 'missing'; message: string };

export function planChromium(p: Probes): Plan {
  const explicit = p.env[ENV_VAR];
  if (explicit) {
    return p.executable(explicit) ? { kind: 'found', path: explicit } : { kind: 'missing', message: `${ENV_VAR}=${explicit}: no executable there; point it at a Chromium or Chrome binary` };
  }
  const candidates = [...ON_PATH.map((n) => p.which(n)), ...(p.platform === 'darwin' ? MAC_APPS : []), p.playwrightChromium()];
  const path = candidates.find((c): c is string => c !== null && p.executable(c));
  if (path) return { kind: 'found', path };
  if (p.platform === 'linux' && p.isDebian) {
    if (p.isRoot) {
      return { kind: 'install', announce: "barenet: no Chromium found: installing Debian's chromium for the browser tests (apt-get install chromium)", commands: INSTALL };
    }
    return { kind: 'missing', message: `no Chromium found: the browser tests need Debian's chromium: run \`sudo apt-get install -y chromium\` (or set ${ENV_VAR} to a Chromium binary)` };
  }
  return { kind: 'missing', message: `no Chromium found: the browser tests need Chromium or Google Chrome: install one (or set ${ENV_VAR} to its binary)` };
}

export interface CommandResult {
  status: number | null;
  stderr: string;
}

export type Runner = (command: string[]) => CommandResult;

/**
 * The Chromium to launch: found, or installed first (saying so in one line through `say`). Throws an
 * Error whose message is one line saying what to install when there is none and it cannot install one.
 */
export function ensureChromium(probes: Probes = machine(), run: Runner = runQuietly, say: (line: string) => void = console.log): string {
  const plan = planChromium(probes);
  if (plan.kind === 'found') return plan.path;
  if (plan.kind === 'missing') throw new Error(plan.message);
  say(plan.announce);
  for (const command of plan.commands) {
    const r = run(command);
    if (r.status !== 0) {
      const why = r.stderr.trim().split('\n').pop() || `exit ${r.status}`;
      throw new Error(`\`${command.join(' ')}\` failed (${why}): install Debian's chromium (apt-get install -y chromium) and run npm test again`);
    }
  }
  const after = planChromium(probes);
  if (after.kind !== 'found') throw new Error("apt-get installed chromium but no Chromium was found on PATH: install Debian's chromium (apt-get install -y chromium)");
  return after.path;
}

/** Finds a Chromium without installing one (the browser test itself: `npm test` has installed it by then). */
export function findChromium(probes: Probes = machine()): string {
  const plan = planChromium(probes);
  if (plan.kind === 'found') return plan.path;
  throw new Error(plan.kind === 'missing' ? plan.message : "no Chromium found: run `npm test` (it installs Debian's chromium as root) or `apt-get install -y chromium`");
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** This machine. */
export function machine(): Probes {
  const env = process.env;
  return {
    env,
    platform: process.platform,
    isRoot: process.getuid?.() === 0,
    isDebian: existsSync('/etc/debian_version') && (env.PATH ?? '').split(delimiter).some((d) => isExecutable(join(d, 'apt-get'))),
    executable: isExecutable,
    which: (name) => (env.PATH ?? '').split(delimiter).map((d) => join(d, name)).find(isExecutable) ?? null,
    playwrightChromium: () => {
      try {
        return chromium.executablePath();
      } catch {
        return ''; // no build of playwright's Chromium for this platform
      }
    },
  };
}

function runQuietly(command: string[]): CommandResult {
  const r = spawnSync(command[0], command.slice(1), { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: ['ignore', 'ignore', 'pipe'] });
  return { status: r.status, stderr: r.error ? r.error.message : r.stderr };
}
