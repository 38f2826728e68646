// B5 and B6 in the suite (shared/docs/benchmark.md): barenet's CNN epoch (src/bench/cnn.ts) interleaved round
// by round with PyTorch (1 and 2 threads) and TensorFlow.js: cpu time-boxed and extrapolated; wasm cannot
// train a CNN, so its row shows the error it throws, beside its inference. Medians, ratios against barenet on
// one thread, and issue 15's targets with a verdict each. A barenet that throws is a "missing" row.
import { barenetCnnEpoch, type CnnArch } from '../src/bench/cnn.js';
import { runConvBench } from '../src/bench/conv.js';
import { runGemmBench } from '../src/bench/gemm.js';
import { kernelBuild } from '../src/wasm/engine.js';
import { benchThreadScaling } from '../src/bench/workloads.js';
import { fmt, fmtInt, median } from '../src/bench/table.js';
import { interleave, isAbsent, type Absent, type Contender } from './interleave.js';
import { machineScalingNote, type SuiteContext } from './mlp.js';
import { runPeer, type PeerOutcome } from './peers.js';
import type { Section } from './results.js';

export const CNN_SECTIONS = { b5: 'lenet5', b6: 'convnet' } as const satisfies Record<string, CnnArch>;
const TITLES: Record<CnnArch, string> = { lenet5: 'B5: LeNet-5 style CNN', convnet: 'B6: the wide (Keras-style) convnet' };
const BENCH: Record<CnnArch, string> = { lenet5: 'B5', convnet: 'B6' };

/** One run: an epoch (extrapolated when samples < the training set), or a training error, and inference. */
export interface CnnRun {
  /** null: the contender could not train the network (train_error says why). */
  epoch_seconds: number | null;
  train_error?: string;
  /** Training images in the timed part. */
  samples: number;
  test_accuracy: number | null;
  /** Test images the accuracy was measured on (tfjs cpu stops early under its time box). */
  test_samples: number;
  inference1000: number | null;
  inference100: number | null;
  /** Test images the batch-1000 inference covered (tfjs under its time box: fewer than all). */
  inference_samples: number;
}

export interface CnnOptions extends SuiteContext {
  /** Train only the first N minibatches per run, for every contender alike (undefined: the whole epoch). */
  batches?: number;
}

export interface CnnRow {
  name: string;
  threads: number;
  barenet: boolean;
  /** Why there is no figure at all (not installed, barenet's engine missing). */
  absent?: string;
  train_error?: string;
  /** Medians over the rounds (null: not measured). */
  secs: number | null;
  acc: number | null;
  inference1000: number | null;
  inference100: number | null;
  runs: number[];
  samples: number[];
  test_samples: number[];
  inference_samples: number[];
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function fromPeer(r: PeerOutcome, testCount: number): CnnRun | Absent {
  if (isAbsent(r)) return r;
  return {
    epoch_seconds: r.train_error ? null : r.epoch_seconds[0],
    ...(r.train_error ? { train_error: r.train_error } : {}),
    samples: r.epochs_detail[0]?.samples ?? 0,
    test_accuracy: r.test_accuracy[0] ?? null,
    test_samples: r.test_samples?.[0] ?? testCount,
    inference1000: r.inference?.batch1000_sps ?? null,
    inference100: r.inference?.batch100_sps ?? null,
    inference_samples: r.inference?.samples ?? testCount,
  };
}

function contenders(arch: CnnArch, o: CnnOptions): Contender<CnnRun>[] {
  const { data, log } = o;
  const list: Contender<CnnRun>[] = o.threadCounts.map((threads) => ({
    name: `barenet (${o.defaultBuild})`,
    threads,
    run: async () => {
      try {
        const r = await barenetCnnEpoch(arch, threads, { data, build: o.defaultBuild, batches: o.batches });
        return {
          epoch_seconds: r.epoch_seconds,
          samples: r.samples,
          test_accuracy: r.test_accuracy,
          test_samples: data.test.count,
          inference1000: r.inference.batch1000_sps,
          inference100: r.inference.batch100_sps ?? null,
          inference_samples: data.test.count,
        };
      } catch (e) {
        log(`  barenet ${arch}: ${e instanceof Error && e.stack ? e.stack : message(e)}`);
        return { absent: message(e) };
      }
    },
  }));
  const peer = { arch, maxBatches: o.batches, log };
  // tfjs: the same batches, time-boxed (training, its evaluation and its inference), on one thread.
  const tfjs = { ...peer, maxSeconds: o.tfjsSeconds, evalMaxSeconds: o.tfjsSeconds };
  for (const p of o.peerNames) {
    if (p === 'torch') for (const t of o.threadCounts) list.push({ name: 'torch', threads: t, run: async () => fromPeer(await runPeer(p, { ...peer, threads: t }), data.test.count) });
    if (p === 'tfjs-cpu' || p === 'tfjs-wasm') list.push({ name: p, threads: 1, run: async () => fromPeer(await runPeer(p, tfjs), data.test.count) });
  }
  return list;
}

const describe = (trainCount: number) => (r: CnnRun) =>
  (r.epoch_seconds === null ? `cannot train: ${r.train_error}` : `${fmt(r.epoch_seconds, 3)} s/epoch${r.samples < trainCount ? ` (extrapolated from ${fmtInt(r.samples)} images)` : ''}`) +
  (r.test_accuracy !== null ? `, test accuracy ${fmt(100 * r.test_accuracy)}%` : '') +
  (r.inference1000 !== null ? `, inference ${fmtInt(r.inference1000)} samples/s at batch 1000` : '');

const medianOf = (xs: (number | null)[]) => {
  const ok = xs.filter((x): x is number => x !== null);
  return ok.length ? median(ok) : null;
};

export function cnnRows(results: Map<Contender<CnnRun>, (CnnRun | Absent)[]>): CnnRow[] {
  return [...results].map(([c, rs]) => {
    const ok = rs.filter((x): x is CnnRun => !isAbsent(x));
    const trained = ok.filter((x) => x.epoch_seconds !== null);
    return {
      name: c.name,
      threads: c.threads,
      barenet: c.name.startsWith('barenet'),
      ...(ok.length ? {} : { absent: (rs[0] as Absent).absent }),
      ...(ok.length && !trained.length ? { train_error: ok[0].train_error } : {}),
      secs: medianOf(trained.map((x) => x.epoch_seconds)),
      acc: medianOf(trained.map((x) => x.test_accuracy)),
      inference1000: medianOf(ok.map((x) => x.inference1000)),
      inference100: medianOf(ok.map((x) => x.inference100)),
      runs: trained.map((x) => x.epoch_seconds!),
      samples: trained.map((x) => x.samples),
      test_samples: trained.map((x) => x.test_samples),
      inference_samples: ok.filter((x) => x.inference1000 !== null).map((x) => x.inference_samples),
    };
  });
}

const span = (xs: number[]) => {
  const [lo, hi] = [Math.min(...xs), Math.max(...xs)];
  return lo === hi ? fmtInt(lo) : `${fmtInt(lo)}–${fmtInt(hi)}`;
};

/** The row's caveats: extrapolated, accuracy or inference over part of the test set, why it is absent. */
function rowNote(r: CnnRow, trainCount: number, testCount: number): string {
  if (r.absent) return (r.barenet ? 'missing: ' : 'absent: ') + r.absent;
  const parts: string[] = [];
  if (r.train_error) parts.push(`cannot train: ${r.train_error}`);
  if (r.samples.some((n) => n < trainCount)) parts.push(`extrapolated from ${span(r.samples)} images`);
  if (r.test_samples.some((n) => n < testCount)) parts.push(`accuracy on the first ${span(r.test_samples)} test images`);
  if (r.inference_samples.some((n) => n < testCount)) parts.push(`inference over the first ${span(r.inference_samples)} test images`);
  return parts.join('; ');
}

/** "met", "met; aim met", or "missed by N%": x against a target and an aim, lower or higher being better. */
export function verdict(x: number, target: number, aim: number, better: 'lower' | 'higher'): string {
  const ok = (bound: number) => (better === 'lower' ? x <= bound : x >= bound);
  if (!ok(target)) return `missed by ${fmt(100 * (better === 'lower' ? x / target - 1 : 1 - x / target), 0)}%`;
  return ok(aim) ? 'met; aim met' : 'met; aim not';
}

/** Issue 15's targets for this benchmark, from the medians. */
function targetNotes(arch: CnnArch, rows: CnnRow[], partial: boolean): string[] {
  const find = (barenet: boolean, threads: number) => rows.find((r) => (barenet ? r.barenet : r.name === 'torch') && r.threads === threads);
  const [b1, b2, t1, t2] = [find(true, 1), find(true, 2), find(false, 1), find(false, 2)];
  const b = BENCH[arch];
  if (!b1 || b1.secs === null) return [`Targets (issue 15): no barenet row to compare (${b1?.absent ?? 'not run'}).`];
  if (!t1 || t1.secs === null) return [`Targets (issue 15): no PyTorch row to compare (${t1?.absent ?? 'not run'}).`];
  const lines: string[] = [];
  const line = (what: string, x: number, target: number, aim: number, better: 'lower' | 'higher', unit: string) =>
    lines.push(`${b} ${what}: ${unit} ${fmt(x)} (target ${better === 'lower' ? '≤' : '≥'} ${fmt(target)}, aim ${fmt(aim)}): ${verdict(x, target, aim, better)}.`);
  // A peer whose runs spread widely (PyTorch's B6 epoch on this VM: 13 s in one round, 60-80 s in others) makes its
  // median say more about the machine than about the peer: the verdict against its fastest run follows.
  const epochLine = (what: string, t: CnnRow, target: number, aim: number, unit: string) => {
    line(what, b1.secs! / t.secs!, target, aim, 'lower', unit);
    const fastest = Math.min(...t.runs);
    if (Math.max(...t.runs) > 1.5 * fastest) {
      lines.push(`(PyTorch's ${t.threads}-thread runs spread from ${fmt(fastest)} to ${fmt(Math.max(...t.runs))} s: against its fastest, ${fmt(b1.secs! / fastest)}: ${verdict(b1.secs! / fastest, target, aim, 'lower')}.)`);
    }
  };
  if (arch === 'lenet5') {
    epochLine('one epoch, 1 thread', t1, 1.0, 0.7, 'barenet / PyTorch 1 thread');
    const best = [t1, t2].filter((r): r is CnnRow => !!r && r.secs !== null).reduce((a, r) => (r.secs! < a.secs! ? r : a));
    if (b2?.secs) line('one epoch, 2 threads', b2.secs / best.secs!, 0.67, 0.5, 'lower', `barenet / PyTorch's best (${best.threads} thread${best.threads > 1 ? 's' : ''})`);
    if (b1.inference1000 && t1.inference1000) line('inference, batch 1000, 1 thread', b1.inference1000 / t1.inference1000, 1.0, 2.0, 'higher', 'barenet / PyTorch samples/s');
  } else {
    epochLine('one epoch, 1 thread', t1, 0.7, 0.5, 'barenet / PyTorch 1 thread');
  }
  if (partial) lines.push('(From partial epochs, extrapolated: the same first batches for barenet and PyTorch.)');
  return lines;
}

export async function runCnnSection(arch: CnnArch, o: CnnOptions): Promise<Section> {
  const machineScaling: number[] = [];
  const results = await interleave(BENCH[arch], contenders(arch, o), o.rounds, {
    log: o.log,
    describe: describe(o.data.train.count),
    after: async (c, r) => {
      if (c.name.startsWith('barenet') && !isAbsent(r) && o.threadCounts.includes(2)) {
        machineScaling.push(await benchThreadScaling({ build: o.defaultBuild }));
        o.log(`  this machine's two-thread scaling now: ×${fmt(machineScaling.at(-1))}`);
      }
    },
  });
  return cnnSection(arch, cnnRows(results), machineScaling, {
    trainCount: o.data.train.count,
    testCount: o.data.test.count,
    defaultBuild: o.defaultBuild,
    tfjsSeconds: o.tfjsSeconds,
    batches: o.batches,
  });
}

/** The section's table and notes from its rows. */
export function cnnSection(
  arch: CnnArch,
  rows: CnnRow[],
  machineScaling: number[],
  o: { trainCount: number; testCount: number; defaultBuild: string; tfjsSeconds: number; batches?: number },
): Section {
  const { trainCount, testCount } = o;
  const base = rows.find((r) => r.barenet && r.threads === 1 && r.secs !== null);
  const head = [
    `${BENCH[arch]} (one epoch, ${fmtInt(trainCount)} images)`, 'threads', 's/epoch (median)', 'samples/s', 'test acc',
    `barenet (${o.defaultBuild}, 1 thr) is ×faster`, 'inference samples/s, batch 1000', 'batch 100', 'runs (s)', 'note',
  ];
  const body = rows.map((r) => [
    r.name,
    `${r.threads}`,
    r.secs !== null ? fmt(r.secs, 2) : r.absent ? (r.barenet ? 'missing' : 'absent') : 'cannot train',
    r.secs !== null ? fmtInt(trainCount / r.secs) : '',
    r.acc !== null ? fmt(100 * r.acc) + '%' : '',
    r.secs !== null && base ? fmt(r.secs / base.secs!) : r.secs !== null ? '–' : '',
    r.inference1000 !== null ? fmtInt(r.inference1000) : '',
    r.inference100 !== null ? fmtInt(r.inference100) : '',
    r.runs.map((x) => fmt(x)).join(' '),
    rowNote(r, trainCount, testCount),
  ]);
  const [one, two] = [1, 2].map((t) => rows.find((r) => r.barenet && r.threads === t && r.secs !== null));
  // (the targets compare barenet with PyTorch: partial when either trained part of the epoch; tfjs is time-boxed anyway)
  const partial = rows.some((r) => (r.barenet || r.name === 'torch') && r.samples.some((n) => n < trainCount));
  const notes = [
    ...(one && two ? [`${BENCH[arch]} on 2 threads vs 1 (medians): barenet ×${fmt(one.secs! / two.secs!)}.`] : []),
    ...(machineScaling.length ? [machineScalingNote(BENCH[arch], machineScaling)] : []),
    ...targetNotes(arch, rows, partial),
    `Extrapolated: seconds/epoch = measured seconds × ${fmtInt(trainCount)} / images trained, and the test accuracy is after those images only` +
      ` (tfjs: time-boxed at ${o.tfjsSeconds} s per run, for training, its evaluation and each inference batch size).`,
  ];
  const what = o.batches ? `the first ${o.batches} batches of an epoch (${fmtInt(Math.min(trainCount, 64 * o.batches))} images)` : 'one epoch';
  return {
    name: arch === 'lenet5' ? 'b5' : 'b6',
    title: TITLES[arch],
    intro: `Contenders run interleaved, ${what} each per round; medians.`,
    tables: [{ head, body }],
    notes,
    json: { arch, batches: o.batches ?? null, rows, machine_scaling: machineScaling },
  };
}

/**
 * The conv kernels on B5's and B6's layers (batch 64, one thread, the default build): GFLOP/s per layer and pass as
 * the networks run them (the first layers on MNIST skipping zero pixels, the others' forward skipping the zeros of a
 * ReLU and pool's output, the backward passes skipping the zero gradients a max pool leaves), against this
 * machine's SIMD limit measured now: the packed GEMM on 1024³.
 */
export async function runConvKernelSection(o: SuiteContext): Promise<Section> {
  const build = kernelBuild(o.defaultBuild);
  o.log(`conv kernels (${build}): the SIMD limit, then each layer and pass`);
  const [limit] = await runGemmBench({ builds: [build], cases: [{ label: '1024³', kernel: 'gemm_nn', m: 1024, n: 1024, k: 1024 }], reps: 5 });
  const rows = (await runConvBench({ builds: [build], reps: 5 })).filter((r) => r.sparse === (r.mnist || r.pass === 'forward') && (r.pass === 'forward' || r.sparseDy));
  const body = rows.map((r) => [r.label, r.pass, fmt(r.gflops, 1), `${fmt((100 * r.gflops) / limit.gflops, 0)}%`, fmt(r.gemmGflops, 1), fmt(r.seconds * 1e6, 0)]);
  return {
    name: 'conv',
    title: 'B5/B6 conv kernels: GFLOP/s per layer and pass',
    intro: `One thread, ${build} build, batch 64, medians of 5; FLOP counts every term, the skipped zeros too (so a pass that skips may pass the limit). The first layers read MNIST; the others' x is 70% zeros at random (a ReLU and pool's output, whose zeros cluster in training), their dy a max pool's gradient.`,
    tables: [{ head: ['layer', 'pass', 'GFLOP/s', `of the limit (${fmt(limit.gflops, 1)} GFLOP/s: GEMM 1024³)`, 'im2col + GEMM alone', 'µs per call'], body }],
    notes: [`SIMD limit: the packed GEMM on 1024³ (${build}), ${fmt(limit.gflops, 1)} GFLOP/s, measured in this run.`],
    json: { build, limit_gflops: limit.gflops, rows: rows.map(({ label, pass, gflops, gemmGflops, seconds }) => ({ label, pass, gflops, gemm_gflops: gemmGflops, seconds })) },
  };
}
