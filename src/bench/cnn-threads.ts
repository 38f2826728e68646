// Two-thread scaling of CNN training steps: rounds of `--steps` training steps (B5 or B6 recipe: momentum 0.9,
// lr 0.05, batch 64) on a one-thread and a two-thread engine, alternating, beside the machine's own two-thread
// scaling on independent work (benchThreadScaling) measured between them. Wall time, medians of the rounds.
// Run: npx tsx src/bench/cnn-threads.ts [--arch lenet5|convnet|SPEC] [--steps N] [--rounds N] [--build relaxed]
import { pathToFileURL } from 'node:url';
import { Engine, type Build } from '../wasm/engine.js';
import { Network, type DeviceSplit } from '../model/network.js';
import { loadDataset } from '../data/dataset.js';
import { Rng } from '../rng.js';
import { benchThreadScaling } from './workloads.js';
import { median } from './table.js';

export async function cnnThreadScaling(opts: { arch?: string; steps?: number; rounds?: number; build?: Build } = {}) {
  const data = await loadDataset(undefined, { val: 0 });
  const steps = opts.steps ?? 50;
  const side = async (threads: number) => {
    const eng = await Engine.load(opts.build ?? 'relaxed', { threads });
    const net = new Network(eng, { spec: opts.arch ?? 'lenet5', input: { c: 1, h: 28, w: 28 }, classes: 10 }, {
      batch: 64, optimizer: { kind: 'momentum', momentum: 0.9 }, sparse: 'auto',
    });
    const rng = new Rng(1);
    net.init(rng);
    const train: DeviceSplit = net.upload(data.train.images, data.train.labels, data.train.count);
    const order = net.allocIndices(data.train.count);
    for (let i = 0; i < order.length; i++) order[i] = i;
    rng.shuffle(order);
    let at = 0;
    const run = () => {
      const t0 = performance.now();
      for (let s = 0; s < steps; s++, at = (at + 64) % (data.train.count - 64)) net.trainStep(train, order.subarray(at, at + 64), 0.05);
      return (performance.now() - t0) / steps;
    };
    run(); // warm-up
    return { eng, run };
  };
  const [one, two] = [await side(1), await side(2)];
  const ms: [number[], number[]] = [[], []];
  const machine: number[] = [];
  for (let r = 0; r < (opts.rounds ?? 9); r++) {
    ms[0].push(one.run());
    ms[1].push(two.run());
    if (r % 3 === 0) machine.push(await benchThreadScaling({ build: opts.build ?? 'relaxed', pairs: 10 }));
  }
  one.eng.close();
  two.eng.close();
  const [m1, m2] = ms.map(median);
  return { msPerStep1: m1, msPerStep2: m2, speedup: m1 / m2, machine: median(machine), threads2: two.eng.threads };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const r = await cnnThreadScaling({
    arch: arg('--arch'), steps: arg('--steps') ? Number(arg('--steps')) : undefined,
    rounds: arg('--rounds') ? Number(arg('--rounds')) : undefined, build: arg('--build') as Build | undefined,
  });
  console.log(`1 thread ${r.msPerStep1.toFixed(2)} ms/step, 2 threads ${r.msPerStep2.toFixed(2)} ms/step: ` +
    `×${r.speedup.toFixed(2)} (the machine's own two-thread scaling now: ×${r.machine.toFixed(2)})`);
}
