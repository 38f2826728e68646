// `barenet bench`: barenet's own B1–B4 on this machine (the suite with TensorFlow.js, numpy and PyTorch
// beside it is `npm run bench` from a clone).
import { availableParallelism } from 'node:os';
import { loadDataset } from '../data/dataset.js';
import { benchB1, benchB2, benchB3 } from '../bench/workloads.js';
import { runGemmBench } from '../bench/gemm.js';
import { fmt, fmtInt, median, textTable } from '../bench/table.js';
import { commonFlags, parseArgs, type CommandSpec } from './args.js';
import type { Io } from './io.js';

export const benchSpec: CommandSpec = {
  name: 'bench',
  summary: "run barenet's benchmarks B1–B4 on this machine",
  usage: 'barenet bench [--rounds N] [--json]',
  flags: {
    rounds: { type: 'int', default: 3, min: 1, help: 'B1 epochs per variant, interleaved; medians are reported' },
    json: commonFlags.json,
  },
};

export async function benchCommand(argv: string[], io: Io): Promise<number> {
  const { flags: f } = parseArgs(benchSpec, argv);
  const log = (s: string) => io.stdout.write(s + '\n');
  const data = await loadDataset(undefined, { val: 0 });
  const threadCounts = availableParallelism() > 1 ? [1, 2] : [1];
  const variants = threadCounts.flatMap((threads) => (['release', 'relaxed'] as const).map((build) => ({ build, threads })));
  const b1: number[][] = variants.map(() => []);
  for (let r = 0; r < f.rounds; r++) {
    for (const [i, v] of variants.entries()) b1[i].push((await benchB1(data, v)).epoch_seconds[0]);
  }
  const b2 = await benchB2(data);
  const b3 = [];
  for (const threads of threadCounts) b3.push(await benchB3(data, { batch: 1000, threads }), await benchB3(data, { batch: 1, threads }));
  const gemm = await runGemmBench({ reps: 5 });

  log(textTable(
    ['B1: one epoch of MNIST, SGD 0.1, batch 64', 's/epoch (median)', 'samples/s'],
    variants.map((v, i) => [`${v.build}, ${v.threads} thread${v.threads > 1 ? 's' : ''}`, fmt(median(b1[i]), 3), fmtInt(60000 / median(b1[i]))]),
  ));
  log(`\nB2: per-sample SGD (${b2.build}): ${fmtInt(b2.samples_per_second)} samples/s`);
  for (const threads of threadCounts) {
    const [k, one] = b3.filter((r) => r.threads === threads);
    log(`B3: inference (${k.build}), ${threads} thread${threads > 1 ? 's' : ''}: ${fmtInt(k.samples_per_second)} samples/s at batch 1000, ${fmtInt(one.samples_per_second)} at batch 1`);
  }
  log('');
  log(textTable(
    ['B4: GEMM', 'kernel', 'm×n×k', 'GFLOP/s'],
    gemm.map((g) => [`${g.label} (${g.build})`, g.kernel, `${g.m}×${g.n}×${g.k}`, fmt(g.gflops, 1)]),
  ));
  if (f.json) {
    log(JSON.stringify({
      b1: variants.map((v, i) => ({ ...v, epoch_seconds: b1[i], samples_per_second: 60000 / median(b1[i]) })),
      b2,
      b3,
      b4: gemm.map(({ label, kernel, m, n, k, build, gflops }) => ({ label, kernel, m, n, k, build, gflops })),
    }));
  }
  return 0;
}
