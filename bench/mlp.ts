// B1–B4 in the suite (shared/docs/benchmark.md): the MLP. B1 is interleaved round by round with numpy, PyTorch
// and TensorFlow.js, which measure their B2 (numpy) and B3 in the same runs; then barenet's B1 convergence,
// B2, B3, the B4 GEMM kernels, and the peak RSS of a real `barenet train`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchB1, benchB2, benchB3, benchThreadScaling } from '../src/bench/workloads.js';
import { runGemmBench } from '../src/bench/gemm.js';
import { fmt, fmtInt, median } from '../src/bench/table.js';
import type { Build } from '../src/wasm/engine.js';
import type { TrainData } from '../src/train/trainer.js';
import { interleave, isAbsent, type Contender } from './interleave.js';
import { runPeer, type PeerName, type PeerResult } from './peers.js';
import type { Section } from './results.js';

export interface SuiteContext {
  data: TrainData;
  rounds: number;
  peerNames: PeerName[];
  threadCounts: number[];
  /** The build users get by default ('auto'): the ratios are against it. */
  defaultBuild: Build;
  /** Seconds of a time-boxed (extrapolated) tfjs epoch. */
  tfjsSeconds: number;
  log: (line: string) => void;
}

type B1Run = { epoch_seconds: number[]; test_accuracy: number[]; extrapolated?: boolean; b3?: PeerResult['b3']; b2?: PeerResult['b2'] };

export async function runMlpSection(ctx: SuiteContext): Promise<Section> {
  const { data, rounds, peerNames, threadCounts, defaultBuild, log } = ctx;
  const builds = ['release', 'relaxed'] as const;
  const contenders: Contender<B1Run>[] = [];
  for (const build of builds) {
    for (const threads of threadCounts) contenders.push({ name: `barenet (${build})`, threads, run: () => benchB1(data, { build, threads }) });
  }
  for (const p of peerNames) {
    const threads = p === 'numpy' || p === 'torch' ? threadCounts : [1];
    for (const t of threads) {
      if (p === 'tfjs-wasm') {
        contenders.push({ name: 'tfjs-wasm (stock)', threads: t, run: () => runPeer(p, { threads: t, maxSeconds: ctx.tfjsSeconds, log }) });
        contenders.push({ name: 'tfjs-wasm (transposed grads)', threads: t, run: () => runPeer(p, { threads: t, maxSeconds: ctx.tfjsSeconds, tfjsGrad: 'transposed', log }) });
      } else {
        contenders.push({ name: p, threads: t, run: () => runPeer(p, { threads: t, maxSeconds: p === 'tfjs-cpu' ? ctx.tfjsSeconds : undefined, log }) });
      }
    }
  }

  // B1, interleaved. After each barenet run, the machine's own two-thread scaling on independent work
  // (benchThreadScaling), the yardstick for barenet's: a VM's two vCPUs may give anything from one core's
  // throughput to two, and that changes from one minute to the next.
  const machineScaling: number[] = [];
  const results = await interleave('B1', contenders, rounds, {
    log,
    describe: (res) => `${fmt(res.epoch_seconds[0], 3)} s/epoch${res.extrapolated ? ' (extrapolated)' : ''}, test accuracy ${fmt(100 * res.test_accuracy[0])}%`,
    after: async (c) => {
      if (c.name.startsWith('barenet') && threadCounts.includes(2)) {
        machineScaling.push(await benchThreadScaling({ build: defaultBuild }));
        log(`  this machine's two-thread scaling now: ×${fmt(machineScaling.at(-1))}`);
      }
    },
  });

  const b1Rows = [...results].map(([c, rs]) => {
    const ok = rs.filter((x): x is B1Run => !isAbsent(x));
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
  const notes = [
    ...(twoThreads.length ? [`B1 on 2 threads vs 1 (medians): barenet ${twoThreads.join(', ')}.`] : []),
    ...(machineScaling.length ? [machineScalingNote('B1', machineScaling)] : []),
    `B1 convergence (barenet, ${conv.build}, 1 thread): test accuracy ${conv.test_accuracy.map((a) => fmt(100 * a)).join(', ')} % after each epoch;`,
    `97.5% after ${fmt(conv.seconds_to_975)} s of training, 98.0% after ${fmt(conv.seconds_to_980)} s.`,
    trainJson
      ? `Memory: peak RSS of \`barenet train --epochs 2\` (defaults, MNIST): ${fmt(trainJson.peak_rss_mb, 0)} MB; test accuracy ${fmt(100 * trainJson.test_accuracy)}%.`
      : `Memory: barenet train failed: ${train.stderr.trim()}`,
    `* extrapolated from the part of the epoch run within ${ctx.tfjsSeconds} s.`,
  ];

  return {
    name: 'b1-b4',
    title: 'B1–B4: the MLP',
    intro: 'B1 contenders run interleaved, one epoch each per round; medians.',
    tables: [
      { head: b1Head, body: b1Body },
      { head: b2Head, body: b2Body },
      { head: b3Head, body: b3Body },
      { head: b4Head, body: b4Body },
    ],
    notes,
    json: { b1: b1Rows.map(({ c, ...r }) => ({ name: c.name, threads: c.threads, ...r })), machine_scaling: machineScaling, conv, b2, b3, gemm, train: trainJson },
  };
}

/** The machine's two-thread scaling probes of a section, as a note line. */
export function machineScalingNote(after: string, xs: number[]): string {
  return `This machine's own two-thread scaling on independent work (benchThreadScaling, after each barenet ${after} run): median ×${fmt(median(xs))} ` +
    `(${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}, ${xs.length} samples).`;
}
