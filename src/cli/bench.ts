// `barenet bench`: barenet's own B1–B6 on this machine (the suite with TensorFlow.js, numpy and PyTorch
// beside it is `npm run bench` from a clone).
import { availableParallelism } from 'node:os';
import { loadDataset } from '../data/dataset.js';
import { benchB1, benchB2, benchB3 } from '../bench/workloads.js';
import { runGemmBench } from '../bench/gemm.js';
import { barenetCnnEpoch, type CnnArch, type CnnEpochResult } from '../bench/cnn.js';
import { fmt, fmtInt, median, textTable } from '../bench/table.js';
import { commonFlags, parseArgs, type CommandSpec } from './args.js';
import type { Io } from './io.js';

export const benchSpec: CommandSpec = {
  name: 'bench',
  summary: "run barenet's benchmarks B1–B6 on this machine",
  usage: 'barenet bench [--rounds N] [--only mlp|cnn] [--json]',
  flags: {
    rounds: { type: 'int', default: 3, min: 1, help: 'B1 epochs per variant, and B5/B6 runs per thread count, interleaved; medians are reported' },
    only: { type: 'string', choices: ['mlp', 'cnn'], help: 'only B1–B4 (mlp) or only B5/B6 (cnn)' },
    json: commonFlags.json,
  },
};

export async function benchCommand(argv: string[], io: Io): Promise<number> {
  const { flags: f } = parseArgs(benchSpec, argv);
  const log = (s: string) => io.stdout.write(s + '\n');
  const data = await loadDataset(undefined, { val: 0 });
  const threadCounts = availableParallelism() > 1 ? [1, 2] : [1];
  const cnn = f.only !== 'mlp' ? await benchCnns(data, threadCounts, f.rounds, log) : null;
  if (f.only === 'cnn') {
    if (f.json) log(JSON.stringify({ cnn }));
    return 0;
  }
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
      cnn,
    }));
  }
  return 0;
}

/** B5 and B6, one epoch each, each thread count in turn, `rounds` times. */
async function benchCnns(data: Awaited<ReturnType<typeof loadDataset>>, threadCounts: number[], rounds: number, log: (s: string) => void) {
  const runs = { lenet5: [] as CnnEpochResult[], convnet: [] as CnnEpochResult[] };
  for (let r = 0; r < rounds; r++) {
    for (const threads of threadCounts) {
      runs.lenet5.push(await barenetCnnEpoch('lenet5', threads, { data }));
      runs.convnet.push(await barenetCnnEpoch('convnet', threads, { data }));
    }
  }
  const rows = (arch: CnnArch) =>
    threadCounts.map((threads) => {
      const mine = runs[arch].filter((x) => x.threads === threads || (threads > 1 && x.threads > 1));
      const secs = median(mine.map((x) => x.epoch_seconds));
      return [`${threads} thread${threads > 1 ? 's' : ''} (${mine[0].build})`, fmt(secs, 2), fmtInt(60000 / secs), `${(100 * mine[mine.length - 1].test_accuracy).toFixed(2)}%`, fmtInt(median(mine.map((x) => x.inference.batch1000_sps)))];
    });
  log(textTable(['B5: LeNet-5, one epoch, momentum 0.9, lr 0.05, batch 64', 's/epoch (median)', 'samples/s', 'test acc', 'inference/s (batch 1000)'], rows('lenet5')));
  log('');
  log(textTable(['B6: convnet, one epoch, momentum 0.9, lr 0.05, batch 64', 's/epoch (median)', 'samples/s', 'test acc', 'inference/s (batch 1000)'], rows('convnet')));
  log('');
  return runs;
}
