// The benchmark suite (`npm run bench`): B1–B6 of shared/docs/benchmark.md for barenet, side by side with its
// peers in the same run. Contenders are interleaved round by round (barenet, then each peer, then barenet
// again …) and medians are compared, so a noisy shared machine shifts every contender alike.
//   npm run bench -- [--rounds 3] [--peers numpy,torch,tfjs-wasm,tfjs-cpu] [--threads 1,2] [--only b1-b4,b5,b6,conv]
//                    [--b5-batches all] [--b6-batches all] [--json] [--write]
// --only runs some sections (B1–B4 go together: the peers measure B2 and B3 inside their B1 runs).
// --b5-batches / --b6-batches N train only the first N minibatches per run (every contender alike) and
// extrapolate to the epoch; 'all' is the whole epoch. --write regenerates the sections run in bench/RESULTS.md.
import { cpus } from 'node:os';
import { loadDataset } from '../src/data/dataset.js';
import { pickBuild } from '../src/wasm/engine.js';
import { CNN_SECTIONS, runCnnSection, runConvKernelSection } from './cnn.js';
import { runMlpSection, type SuiteContext } from './mlp.js';
import { PEERS, peerVersions, type PeerName } from './peers.js';
import { renderText, SECTIONS, writeResults, type Section, type SectionName } from './results.js';

const argv = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] ?? '' : fallback;
};
/** A bad flag: one line naming it, exit 2. */
function usage(msg: string): never {
  process.stderr.write(`npm run bench: ${msg}\n`);
  process.exit(2);
}
const list = (flag: string, fallback: string, allowed: readonly string[]) => {
  const xs = arg(flag, fallback).split(',').filter(Boolean);
  const bad = xs.find((x) => !allowed.includes(x));
  if (bad !== undefined) usage(`${flag}: '${bad}' is not one of ${allowed.join(', ')}`);
  return xs;
};
const count = (flag: string, fallback: string, all: boolean) => {
  const v = arg(flag, fallback);
  if (all && v === 'all') return undefined;
  if (!/^[1-9][0-9]*$/.test(v)) usage(`${flag}: '${v}' is not a positive whole number${all ? " or 'all'" : ''}`);
  return Number(v);
};

const rounds = count('--rounds', '3', false)!;
const peerNames = list('--peers', PEERS.join(','), PEERS) as PeerName[];
const threadCounts = arg('--threads', '1,2').split(',').map((t) => (/^[1-9][0-9]?$/.test(t) ? Number(t) : usage(`--threads: '${t}' is not a thread count`)));
const only = new Set(list('--only', SECTIONS.join(','), SECTIONS) as SectionName[]);
const batches = { b5: count('--b5-batches', 'all', true), b6: count('--b6-batches', 'all', true) };
const json = argv.includes('--json');
const write = argv.includes('--write');
const log = (s: string) => process.stderr.write(s + '\n');

const ctx: SuiteContext = {
  data: await loadDataset(undefined, { val: 0 }),
  rounds,
  peerNames,
  threadCounts,
  defaultBuild: await pickBuild('auto'),
  tfjsSeconds: 20,
  log,
};

const sections: Section[] = [];
if (only.has('b1-b4')) sections.push(await runMlpSection(ctx));
for (const name of ['b5', 'b6'] as const) if (only.has(name)) sections.push(await runCnnSection(CNN_SECTIONS[name], { ...ctx, batches: batches[name] }));
if (only.has('conv')) sections.push(await runConvKernelSection(ctx));

const versions = await peerVersions();
const cpu = cpus()[0]?.model ?? 'unknown CPU';
const header = `${new Date().toISOString().slice(0, 10)} · ${cpu} (${cpus().length} vCPU) · Node ${process.versions.node} · ` +
  `tfjs ${versions.tfjs ?? '–'} · numpy ${versions.numpy ?? '–'} · torch ${versions.torch ?? '–'} · ${versions.blas ?? ''} · ${rounds} rounds`;

// JSON: B1–B4's keys at the top level as before this file had sections, then b5 and b6.
if (json) console.log(JSON.stringify(Object.assign({ header }, ...sections.map((s) => (s.name === 'b1-b4' ? s.json : { [s.name]: s.json })))));
else console.log(renderText(header, sections));
if (write) {
  await writeResults(header, sections);
  log(`wrote the ${sections.map((s) => s.name).join(', ')} section${sections.length > 1 ? 's' : ''} of bench/RESULTS.md`);
}
