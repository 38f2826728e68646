// The benchmark suite (`npm run bench`): B1–B4 of shared/docs/benchmark.md for barenet, side by side with
// its peers in the same run. B1 is interleaved round by round (barenet, then each peer, then barenet again …)
// and medians are compared, so a noisy shared machine shifts every contender alike.
//   npm run bench -- [--rounds 3] [--peers numpy,torch,tfjs-wasm,tfjs-cpu] [--threads 1,2] [--json] [--write]
// --write regenerates bench/RESULTS.md from this run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataset } from '../src/data/dataset.js';
import { benchB1, benchB2, benchB3, benchThreadScaling } from '../src/bench/workloads.js';
import { pickBuild } from '../src/wasm/engine.js';
import { runGemmBench } from '../src/bench/gemm.js';
import { fmt, fmtInt, markdownTable, median, textTable } from '../src/bench/table.js';
import { peerVersions, runPeer, type PeerName, type PeerResult } from './peers.js';

const argv = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
};
const rounds = Number(arg('--rounds', '3'));
const peerNames = arg('--peers', 'numpy,torch,tfjs-wasm,tfjs-cpu').split(',').filter(Boolean) as PeerName[];
const threadCounts = arg('--threads', '1,2').split(',').map(Number);
const json = argv.includes('--json');
const write = argv.includes('--write');
const log = (s: string) => process.stderr.write(s + '\n');

const data = await loadDataset(undefined, { val: 0 });
const builds = ['release', 'relaxed'] as const;
/** The build users get by default ('auto'): the ratios are against it. */
const defaultBuild = await pickBuild('auto');

interface Contender {
  name: string;
  threads: number;
  run: () => Promise<{ epoch_seconds: number[]; test_accuracy: number[]; extrapolated?: boolean; b3?: PeerResult['b3']; b2?: PeerResult['b2'] } | { absent: string }>;
}

const contenders: Contender[] = [];
for (const build of builds) {
  for (const threads of threadCounts) contenders.push({ name: `barenet (${build})`, threads, run: () => benchB1(data, { build, threads }) });
}
for (const p of peerNames) {
  const threads = p === 'numpy' || p === 'torch' ? threadCounts : [1];
  for (const t of threads) {
    if (p === 'tfjs-wasm') {
      contenders.push({ name: 'tfjs-wasm (stock)', threads: t, run: () => runPeer(p, { threads: t, maxSeconds: 20, log }) });
      contenders.push({ name: 'tfjs-wasm (transposed grads)', threads: t, run: () => runPeer(p, { threads: t, maxSeconds: 20, tfjsGrad: 'transposed', log }) });
    } else {
      contenders.push({ name: p, threads: t, run: () => runPeer(p, { threads: t, maxSeconds: p === 'tfjs-cpu' ? 20 : undefined, log }) });
    }
  }
}

// B1, interleaved: every contender once per round. After each barenet run, the machine's own two-thread
// scaling on independent work (benchThreadScaling), the yardstick for barenet's: a VM's two vCPUs may give
// anything from one core's throughput to two, and that changes from one minute to the next.
const results = new Map<Contender, Awaited<ReturnType<Contender['run']>>[]>();
const machineScaling: number[] = [];
for (let r = 1; r <= rounds; r++) {
  for (const c of contenders) {
    log(`B1 round ${r}/${rounds}: ${c.name}, ${c.threads} thread${c.threads > 1 ? 's' : ''}`);
    const res = await c.run();
    if (!results.has(c)) results.set(c, []);
    results.get(c)!.push(res);
    if ('absent' in res) log(`  absent: ${res.absent}`);
    else log(`  ${fmt(res.epoch_seconds[0], 3)} s/epoch${res.extrapolated ? ' (extrapolated)' : ''}, test accuracy ${fmt(100 * res.test_accuracy[0])}%`);
    if (c.name.startsWith('barenet') && threadCounts.includes(2)) {
      machineScaling.push(await benchThreadScaling({ build: defaultBuild }));
      log(`  this machine's two-thread scaling now: ×${fmt(machineScaling.at(-1))}`);
    }
  }
  // An absent peer stays absent: don't ask again.
  for (const [c, rs] of results) if (rs.every((x) => 'absent' in x)) contenders.splice(contenders.indexOf(c), 1);
}

const b1Rows = [...results].map(([c, rs]) => {
  const ok = rs.filter((x): x is Exclude<typeof x, { absent: string }> => !('absent' in x));
  if (!ok.length) return { c, absent: (rs[0] as { absent: string }).absent };
  const secs = median(ok.map((x) => x.epoch_seconds[0]));
  return {
    c,
    secs,
    acc: median(ok.map((x) => x.test_accuracy[0])),
    extrapolated: ok.some((x) => x.extrapolated),
    b3: ok.map((x) => x.b3).filter(Boolean) as NonNullable<PeerResult['b3']>[],
    b2: ok.map((x) => x.b2).filter(Boolean) as NonNullable<PeerResult['b2']>[],
    runs: ok.map((x) => x.epoch_seconds[0]),
  };
});
const barenetB1 = (build: string, threads: number) =>
  b1Rows.find((r) => r.c.name === `barenet (${build})` && r.c.threads === threads && 'secs' in r) as { secs: number } | undefined;
const base = barenetB1(defaultBuild, 1);

// B1 to 98%: barenet alone, several epochs.
log('B1 convergence: barenet, up to 20 epochs');
const conv = await benchB1(data, { epochs: 20 });

// B2, B3 for barenet (peers measured theirs in the B1 runs).
log('B2, B3: barenet');
// Both builds alternating, medians of three; B3 with 1 and 2 threads.
const b2runs = builds.map(() => [] as number[]);
const b3Variants = builds.flatMap((build) => threadCounts.map((threads) => ({ build, threads })));
const b3runs = b3Variants.map(() => ({ k: [] as number[], one: [] as number[] }));
for (let r = 0; r < 3; r++) {
  for (const [i, build] of builds.entries()) b2runs[i].push((await benchB2(data, { build })).samples_per_second);
  for (const [i, v] of b3Variants.entries()) {
    b3runs[i].k.push((await benchB3(data, { batch: 1000, ...v })).samples_per_second);
    b3runs[i].one.push((await benchB3(data, { batch: 1, ...v })).samples_per_second);
  }
}
const b2 = builds.map((build, i) => ({ build, samples_per_second: median(b2runs[i]) }));
const b3 = b3Variants.map((v, i) => ({ ...v, batch1000: median(b3runs[i].k), batch1: median(b3runs[i].one) }));
// The ratios are against barenet's default build on the first thread count (1).
const b3Base = b3.find((r) => r.build === defaultBuild)!;

// B4: GEMM kernels.
log('B4: GEMM');
const gemm = await runGemmBench({ builds: ['release', 'relaxed'], reps: 5 });

// Memory: peak RSS of a real `barenet train` on MNIST.
log('memory: barenet train --epochs 2');
const out = mkdtempSync(join(tmpdir(), 'barenet-bench-'));
const bin = fileURLToPath(new URL('../bin/barenet.js', import.meta.url));
const train = spawnSync(process.execPath, [bin, 'train', '--epochs', '2', '--json', '--out', out], { encoding: 'utf8' });
const trainJson = train.status === 0 ? JSON.parse(train.stdout.trim().split('\n').pop()!) : null;

// ---- report ----
const threadsLabel = (t: number) => `${t}`;
const b1Head = ['B1 (one epoch, 60,000 images)', 'threads', 's/epoch (median)', 'samples/s', 'test acc', `barenet (${defaultBuild}, 1 thr) is ×faster`, 'runs (s)'];
const b1Body = b1Rows.map((r) =>
  'absent' in r
    ? [r.c.name, threadsLabel(r.c.threads), 'absent', '', '', '', r.absent ?? '']
    : [
        r.c.name,
        threadsLabel(r.c.threads),
        fmt(r.secs, 3) + (r.extrapolated ? '*' : ''),
        fmtInt(60000 / r.secs!),
        fmt(100 * r.acc!) + '%',
        base ? fmt(r.secs! / base.secs) : '–',
        r.runs!.map((x) => fmt(x)).join(' '),
      ],
);
const peerB3 = b1Rows.filter((r) => !('absent' in r) && r.b3!.length);
const b3Head = ['B3 inference (10,000 test images)', 'batch 1000 samples/s', 'batch 1 samples/s', `barenet (${defaultBuild}, 1 thr) ×faster (1000)`, `barenet (${defaultBuild}, 1 thr) ×faster (1)`];
const b3Body = [
  ...b3.map((r) => [`barenet (${r.build}), ${r.threads} thr`, fmtInt(r.batch1000), fmtInt(r.batch1), fmt(b3Base.batch1000 / r.batch1000), fmt(b3Base.batch1 / r.batch1)]),
  ...peerB3.map((r) => {
    const k = median(r.b3!.map((x) => x.batch1000_sps));
    const one = median(r.b3!.map((x) => x.batch1_sps));
    return [`${r.c.name}, ${r.c.threads} thr`, fmtInt(k), fmtInt(one), fmt(b3Base.batch1000 / k), fmt(b3Base.batch1 / one)];
  }),
];
const numpyB2 = b1Rows.find((r) => r.c.name === 'numpy' && r.c.threads === 1 && !('absent' in r) && r.b2!.length);
const numpyB2Sps = numpyB2 && !('absent' in numpyB2) ? median(numpyB2.b2!.map((x) => x.samples_per_second)) : null;
const b2Head = ['B2 per-sample SGD (batch 1, lr 0.01)', 'samples/s', '× numpy'];
const b2Body = b2.map((r) => [`barenet (${r.build})`, fmtInt(r.samples_per_second), numpyB2Sps ? fmt(r.samples_per_second / numpyB2Sps) : '–']);
if (numpyB2Sps) b2Body.push(['numpy (vectorised per sample)', fmtInt(numpyB2Sps), '1.00']);
const b4Head = ['B4 GEMM', 'kernel', 'm×n×k', 'A nonzero', 'release GFLOP/s', 'relaxed GFLOP/s'];
const b4Keys = [...new Set(gemm.map((g) => `${g.label}|${g.kernel}|${g.m}×${g.n}×${g.k}`))];
const b4Body = b4Keys.map((key) => {
  const [label, kernel, shape] = key.split('|');
  const rows = gemm.filter((g) => `${g.label}|${g.kernel}|${g.m}×${g.n}×${g.k}` === key);
  const by = (b: string) => rows.find((g) => g.build === b);
  return [label, kernel, shape, `${Math.round(rows[0].density * 100)}%`, fmt(by('release')?.gflops, 1), fmt(by('relaxed')?.gflops, 1)];
});
const twoThreads = builds.flatMap((b) => {
  const [one, two] = [barenetB1(b, 1), barenetB1(b, 2)];
  return one && two ? [`${b} ×${fmt(one.secs / two.secs)}`] : [];
});
const extra = [
  ...(twoThreads.length ? [`B1 on 2 threads vs 1 (medians): barenet ${twoThreads.join(', ')}.`] : []),
  ...(machineScaling.length
    ? [`This machine's own two-thread scaling on independent work (benchThreadScaling, after each barenet B1 run): median ×${fmt(median(machineScaling))} ` +
        `(${fmt(Math.min(...machineScaling))}–${fmt(Math.max(...machineScaling))}, ${machineScaling.length} samples).`]
    : []),
  `B1 convergence (barenet, ${conv.build}, 1 thread): test accuracy ${conv.test_accuracy.map((a) => fmt(100 * a)).join(', ')} % after each epoch;`,
  `97.5% after ${fmt(conv.seconds_to_975)} s of training, 98.0% after ${fmt(conv.seconds_to_980)} s.`,
  trainJson
    ? `Memory: peak RSS of \`barenet train --epochs 2\` (defaults, MNIST): ${fmt(trainJson.peak_rss_mb, 0)} MB; test accuracy ${fmt(100 * trainJson.test_accuracy)}%.`
    : `Memory: barenet train failed: ${train.stderr.trim()}`,
  '* extrapolated from the part of the epoch run within 20 s.',
];

const versions = await peerVersions();
const cpu = cpus()[0]?.model ?? 'unknown CPU';
const header = `${new Date().toISOString().slice(0, 10)} · ${cpu} (${cpus().length} vCPU) · Node ${process.versions.node} · ` +
  `tfjs ${versions.tfjs ?? '–'} · numpy ${versions.numpy ?? '–'} · torch ${versions.torch ?? '–'} · ${versions.blas ?? ''} · ${rounds} rounds`;

if (json) {
  console.log(JSON.stringify({ header, b1: b1Rows.map(({ c, ...r }) => ({ name: c.name, threads: c.threads, ...r })), machine_scaling: machineScaling, conv, b2, b3, gemm, train: trainJson }));
} else {
  console.log(header + '\n');
  console.log(textTable(b1Head, b1Body) + '\n');
  console.log(textTable(b2Head, b2Body) + '\n');
  console.log(textTable(b3Head, b3Body) + '\n');
  console.log(textTable(b4Head, b4Body) + '\n');
  console.log(extra.join('\n'));
}
if (write) {
  const md = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench -- --write\` (bench/run.ts); do not edit by hand. ${header}.`,
    'B1–B4 as defined in shared/docs/benchmark.md; B1 contenders run interleaved, one epoch each per round; medians.',
    '',
    markdownTable(b1Head, b1Body),
    '',
    markdownTable(b2Head, b2Body),
    '',
    markdownTable(b3Head, b3Body),
    '',
    markdownTable(b4Head, b4Body),
    '',
    ...extra.map((l) => l + '  '),
    '',
  ].join('\n');
  writeFileSync(new URL('./RESULTS.md', import.meta.url), md);
  log('wrote bench/RESULTS.md');
}
