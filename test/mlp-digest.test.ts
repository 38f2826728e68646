// The MLP must not change when the model becomes a list of layers: the same seed gives bit-identical
// parameters to the MLP-only code of commit 3271787 (the digests below were printed by that code).
// Each case trains two epochs on a cut of MNIST through the Trainer, so every path of the dense network
// is covered: the fused sparse SGD update, momentum, Adam with weight decay, the first layer by input halves
// on several threads, batch 1 (the unpacked m = 1 / k = 1 kernels), and batches too small to split.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Trainer, defaultConfig, type TrainConfig } from '../src/train/trainer.js';
import { trainData } from './fixtures.js';

interface Case {
  name: string;
  config: Partial<TrainConfig>;
  train: number;
  digest: Record<'release' | 'relaxed', string>;
}

const cases: Case[] = [
  {
    name: 'B1 recipe: plain SGD 0.1, batch 64 (fused sparse update of the first layer)',
    config: { optimizer: 'sgd', lr: 0.1, schedule: 'none', batch: 64 },
    train: 1280,
    digest: { release: '0e895ba41813166543cbb564a5470d5f7beca0babeec27baa566470d9fce5bd5', relaxed: '31b5907bd45cd47d4d9aa9c12cf061eb54c39ee0401b55c16d7679ab8decfdf2' },
  },
  {
    name: 'the defaults: momentum 0.9, cosine, batch 64',
    config: {},
    train: 1280,
    digest: { release: '903b7e08f26099c84b3dba0ecab3134e9155165aeb28f7e95c6ead097cc4a193', relaxed: '444b1498e76af87feb376666fec96dc4672d4bfc42e4e11995f0b3f65055f48d' },
  },
  {
    name: 'Adam with weight decay, hidden 33,17, batch 37',
    config: { optimizer: 'adam', lr: 0.002, weightDecay: 1e-4, arch: 'dense:33,dense:17', batch: 37 },
    train: 1000,
    digest: { release: '7aca3fdad406175558823721ebf9058b043d2f1fce4e2f39bb6952e70e34ed95', relaxed: 'b340f795f188084d4f244f4ce584adf0f7f9b95a04a6d9c15f5ecc56beec137a' },
  },
  {
    name: 'per-sample SGD (batch 1, lr 0.01), hidden 64',
    config: { optimizer: 'sgd', lr: 0.01, schedule: 'none', batch: 1, arch: 'dense:64' },
    train: 300,
    digest: { release: '5574d89b08f6eaedabf23bea31180942a5cd11a33b5c09b84f87776014cb485c', relaxed: 'b2d14617395197a28252c27ec78ebbb0fff6d9d4c10f38cac9c7976afaa4d427' },
  },
  {
    name: 'Nesterov momentum, step schedule, batch 12 (too small to split), dense first layer',
    config: { nesterov: true, schedule: 'step', stepSize: 1, batch: 12, arch: 'dense:50', sparse: false },
    train: 600,
    digest: { release: '42303f3f6e02478d689f98035f181a816aeac27aa99474e44ed8f27e83bc4c89', relaxed: 'dc1404529ddfb78e052edb41c6eb653b851e1d51ab9bd942e01193a698427dc5' },
  },
];

async function digest(c: Case, build: 'release' | 'relaxed', threads: number): Promise<string> {
  const data = trainData(c.train, 0, 200);
  const config: TrainConfig = { ...defaultConfig, epochs: 2, patience: 0, seed: 5, ...c.config, build, threads };
  const t = await Trainer.create(data, config);
  try {
    await t.run();
    const p = t.model.paramView();
    return createHash('sha256').update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength)).digest('hex');
  } finally {
    t.close();
  }
}

describe('the MLP gives the parameters it gave before the layer engine', () => {
  for (const c of cases) {
    for (const build of ['release', 'relaxed'] as const) {
      it(`${c.name}, ${build}, 1 and 3 threads`, async () => {
        const one = await digest(c, build, 1);
        const three = await digest(c, build, 3);
        expect(three).toBe(one);
        expect(one).toBe(c.digest[build]);
      });
    }
  }
});
