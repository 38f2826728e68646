// Where a CNN training step's time goes: every kernel call of `--steps` training steps (B5 or B6 recipe: momentum
// 0.9, lr 0.05, batch 64) on one thread, timed one by one and summed per layer and kernel, beside GFLOP/s for the
// conv passes; then inference over the test set at batch 1000. Process CPU time by default (the machine is shared:
// wall time counts other processes' turns), --clock wall for wall time.
// Run: npx tsx src/bench/cnn-profile.ts [--arch lenet5|convnet|SPEC] [--steps N] [--build relaxed] [--clock wall]
import { pathToFileURL } from 'node:url';
import { Engine, type Build } from '../wasm/engine.js';
import { Network } from '../model/network.js';
import { Conv } from '../model/conv.js';
import { KERNEL_IDS, type KernelFn } from '../wasm/pool.js';
import { loadDataset } from '../data/dataset.js';
import { Rng } from '../rng.js';
import { textTable } from './table.js';

const NAMES = Object.keys(KERNEL_IDS);

export interface ProfileRow {
  kernel: string;
  /** The layer the call's first pointer argument belongs to, when known. */
  layer: string;
  calls: number;
  ms: number;
  flop: number;
}

export async function profileTraining(opts: { arch?: string; steps?: number; build?: Build; clock?: 'cpu' | 'wall'; inference?: boolean } = {}) {
  const clock = opts.clock === 'wall'
    ? () => performance.now()
    : () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  const eng = await Engine.load(opts.build ?? 'relaxed');
  const data = await loadDataset(undefined, { val: 0 });
  const net = new Network(eng, { spec: opts.arch ?? 'lenet5', input: { c: 1, h: 28, w: 28 }, classes: 10 }, {
    batch: 64, evalBatch: 1000, optimizer: { kind: 'momentum', momentum: 0.9 }, sparse: 'auto',
  });
  const rng = new Rng(1);
  net.init(rng);
  const train = net.upload(data.train.images, data.train.labels, data.train.count);
  const test = net.upload(data.test.images, data.test.labels, data.test.count);
  const order = net.allocIndices(data.train.count);
  for (let i = 0; i < order.length; i++) order[i] = i;
  rng.shuffle(order);

  // Each call's layer: the layer whose geometry (conv, pool) or parameters, gradients or optimizer state (an
  // update) its first argument points into, else the last layer whose output or output gradient it names (a
  // layer's input is its predecessor's output).
  const buf = (net as unknown as { buf: { params: number; grads: number; state1: number } }).buf;
  const layerOf = (args: number[]): string => {
    let found = '-';
    for (const [i, L] of net.layers.entries()) {
      const name = `${i}:${L.constructor.name}`;
      const g = (L as unknown as { g?: number }).g;
      if (g !== undefined && args[0] === g) return name;
      for (const base of [buf.params, buf.grads, buf.state1]) {
        const [lo, hi] = [base + 4 * L.w, base + 4 * (L.b + L.biasCount)];
        if (L.weightCount > 0 && args[0] >= lo && args[0] < hi) return name;
      }
      if (args.includes(L.out) || args.includes(L.dOut)) found = name;
    }
    return found;
  };
  const steps = opts.steps ?? 100;
  const step = (s: number) => net.trainStep(train, order.subarray((s * 64) % 59968, (s * 64) % 59968 + 64), 0.05);
  for (let s = 0; s < 5; s++) step(s); // warm-up
  // The steps alone, then with every kernel call timed.
  const t00 = clock();
  for (let s = 0; s < steps; s++) step(s);
  const plain = clock() - t00;
  const rows = new Map<string, ProfileRow>();
  let recording = false;
  const fns = (eng as unknown as { fns: KernelFn[] }).fns;
  fns.forEach((fn, id) => {
    fns[id] = (...args: number[]) => {
      if (!recording) return fn(...args);
      const t0 = clock();
      fn(...args);
      const ms = clock() - t0;
      const layer = layerOf(args);
      const key = `${NAMES[id]}|${layer}`;
      const r = rows.get(key) ?? { kernel: NAMES[id], layer, calls: 0, ms: 0, flop: 0 };
      r.calls++;
      r.ms += ms;
      rows.set(key, r);
    };
  });
  recording = true;
  for (let s = 0; s < steps; s++) step(s);
  recording = false;
  // FLOP of the conv passes: 2·rows·P·K·CO each.
  for (const [i, L] of net.layers.entries()) {
    if (!(L instanceof Conv)) continue;
    const pass = 2 * 64 * L.P * L.K * L.outShape.c * steps;
    for (const k of ['conv2d_forward', 'conv2d_backward_input', 'conv2d_backward_weight']) {
      const r = rows.get(`${k}|${i}:Conv`);
      if (r) r.flop = pass;
    }
  }
  let inferMs = 0;
  if (opts.inference !== false) {
    net.evaluate(test);
    const t1 = clock();
    net.evaluate(test);
    inferMs = clock() - t1;
  }
  eng.close();
  return { rows: [...rows.values()].sort((a, b) => b.ms - a.ms), total: plain, steps, inferMs, epochSteps: Math.ceil(data.train.count / 64) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const p = await profileTraining({
    arch: arg('--arch'), steps: arg('--steps') ? Number(arg('--steps')) : undefined,
    build: arg('--build') as Build | undefined, clock: arg('--clock') as 'cpu' | 'wall' | undefined,
  });
  const kernelMs = p.rows.reduce((s, r) => s + r.ms, 0);
  console.log(textTable(
    ['kernel', 'layer', 'ms/step', '%', 'GFLOP/s'],
    p.rows.map((r) => [r.kernel, r.layer, (r.ms / p.steps).toFixed(3), (100 * r.ms / kernelMs).toFixed(1), r.flop ? (r.flop / r.ms / 1e6).toFixed(1) : '']),
  ));
  console.log(`${p.steps} steps: ${(p.total / p.steps).toFixed(2)} ms/step (kernels, timed one by one: ${(kernelMs / p.steps).toFixed(2)}), ` +
    `epoch of ${p.epochSteps} steps ≈ ${(p.total / p.steps * p.epochSteps / 1000).toFixed(2)} s; inference of 10,000 at batch 1000: ${(p.inferMs / 1000).toFixed(3)} s`);
}
