// Which WASM build runs: 'auto' picks the relaxed-SIMD build by feature detection, with release as the
// fallback; a trainer and its checkpoints name the build that ran, never 'auto'.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Engine, pickBuild, relaxedSimdSupported } from '../src/wasm/engine.js';
import { Trainer, defaultConfig, type TrainConfig } from '../src/train/trainer.js';
import { decodeCheckpoint } from '../src/checkpoint/model-checkpoint.js';
import { UsageError } from '../src/errors.js';
import { trainData } from './fixtures.js';

const data = trainData(300, 0, 100);
const bytes = (f: Float32Array) => Buffer.from(f.buffer, f.byteOffset, f.byteLength);
const small: TrainConfig = { ...defaultConfig, arch: 'dense:16', epochs: 1, batch: 32, patience: 0, threads: 1 };

afterEach(() => vi.restoreAllMocks());

describe('build choice', () => {
  it("'auto' is the default and picks relaxed where relaxed SIMD validates (Node 20, once V8's flag is set)", async () => {
    expect(defaultConfig.build).toBe('auto');
    expect(await relaxedSimdSupported()).toBe(true);
    expect(await pickBuild('auto')).toBe('relaxed');
    expect(await pickBuild('release')).toBe('release');
    const eng = await Engine.load('auto', { threads: 2 });
    try {
      expect(eng.build).toBe('shared-relaxed');
    } finally {
      eng.close();
    }
  });

  it('falls back to release where relaxed SIMD does not validate, and refuses an explicit relaxed build there', async () => {
    vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    expect(await relaxedSimdSupported()).toBe(false);
    expect(await pickBuild('auto')).toBe('release');
    expect((await Engine.load('auto')).build).toBe('release');
    const refused = Engine.load('relaxed');
    await expect(refused).rejects.toThrow(UsageError);
    await expect(refused).rejects.toThrow('the relaxed build needs relaxed SIMD, which this JavaScript engine lacks (use --build release or auto)');
  });

  it('a trainer, its checkpoint and a resume name the build that ran, not auto', async () => {
    const t = await Trainer.create(data, { ...small, threads: 2 });
    try {
      expect(t.model.eng.build).toBe('shared-relaxed');
      expect(t.config.build).toBe('relaxed');
      await t.run();
      const ck = decodeCheckpoint(t.encodeLast(), 'last');
      expect((ck.info.train!.config as TrainConfig).build).toBe('relaxed');
      const resumed = await Trainer.resume(data, ck, 'last', { threads: 1 });
      try {
        expect(resumed.model.eng.build).toBe('relaxed');
        expect(bytes(resumed.model.paramView()).equals(bytes(t.model.paramView()))).toBe(true);
      } finally {
        resumed.close();
      }
    } finally {
      t.close();
    }
  });

  it('an explicit build is kept, and relaxed and release round differently', async () => {
    const runs = [];
    for (const build of ['release', 'relaxed'] as const) {
      const t = await Trainer.create(data, { ...small, build });
      try {
        expect(t.config.build).toBe(build);
        await t.run();
        runs.push(t.model.paramView().slice());
      } finally {
        t.close();
      }
    }
    expect(bytes(runs[0]).equals(bytes(runs[1]))).toBe(false);
  });
});
