// The library's contract: Trainer.create merges a partial config with defaultConfig and refuses a bad value
// with the command line's one-line UsageError (one table of rules, src/train/config.ts); run() refuses
// what belongs to the config; seeds are exactly the u32s a checkpoint keeps; a threaded Trainer that is
// dropped without close() stops its workers once garbage collected.
import { describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import vm from 'node:vm';
import { readFileSync } from 'node:fs';
import { Trainer, defaultConfig, type TrainConfig } from '../src/train/trainer.js';
import { CONFIG_RULES, resolveConfig } from '../src/train/config.js';
import { decodeCheckpoint } from '../src/checkpoint/model-checkpoint.js';
import { parseArgs } from '../src/cli/args.js';
import { trainSpec } from '../src/cli/train.js';
import { UsageError } from '../src/errors.js';
import type { Pool } from '../src/wasm/pool.js';
import { trainData } from './fixtures.js';

const data = trainData(300, 100, 100);
const small: Partial<TrainConfig> = { arch: 'dense:8', batch: 50, threads: 1 };

/** The UsageError message Trainer.create rejects `config` with. */
async function refused(config: unknown): Promise<string> {
  const err = await Trainer.create(data, config as Partial<TrainConfig>).then(
    (t) => {
      t.close();
      return null;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UsageError);
  return (err as Error).message;
}

describe('Trainer.create validates its config', () => {
  it('{ epochs: 1 } alone trains: the rest is defaultConfig', async () => {
    const t = await Trainer.create(trainData(2000, 200, 500), { epochs: 1 });
    try {
      expect(t.config).toEqual({ ...defaultConfig, epochs: 1, build: t.config.build });
      expect(['release', 'relaxed']).toContain(t.config.build);
      const r = await t.run();
      expect(r.epochs).toBe(1);
      expect(r.test.accuracy).toBeGreaterThan(0.5);
    } finally {
      t.close();
    }
  });

  it('a bad value is a UsageError naming the key, as the command line names the flag', async () => {
    expect(await refused({ batch: 0 })).toBe('batch: must be at least 1, got 0');
    expect(await refused({ optimizer: 'rmsprop' })).toBe("optimizer: expected one of sgd|momentum|adam, got 'rmsprop'");
    expect(await refused({ epochs: 2.5 })).toBe('epochs: expected a whole number, got 2.5');
    expect(await refused({ epochs: '5' })).toBe("epochs: expected a whole number, got '5'");
    expect(await refused({ lr: NaN })).toBe('lr: expected a number, got NaN');
    expect(await refused({ lr: -1 })).toBe('lr: must be at least 0, got -1');
    expect(await refused({ momentum: 1 })).toBe('momentum: must be at least 0 and below 1, got 1');
    expect(await refused({ arch: 'dense:8,dense:0' })).toBe("arch: 'dense:0' needs a positive whole number of units, e.g. dense:128");
    expect(await refused({ arch: 8 as unknown as string })).toBe("arch: expected a preset (mlp, lenet5, convnet) or layers such as 'conv5x5:6,maxpool2,dense:64', got 8");
    expect(await refused({ hidden: [8] } as Partial<TrainConfig>)).toBe(`config: unknown key 'hidden' (keys: ${Object.keys(defaultConfig).join(', ')})`);
    expect(await refused({ schedule: 'linear' })).toBe("schedule: expected one of none|step|cosine, got 'linear'");
    expect(await refused({ build: 'fast' })).toBe("build: expected one of auto|release|relaxed|debug, got 'fast'");
    expect(await refused({ sparse: 'yes' })).toBe("sparse: expected true or false or 'auto', got 'yes'");
    expect(await refused({ nesterov: 1 })).toBe('nesterov: expected true or false, got 1');
    expect(await refused({ threads: -1 })).toBe('threads: must be at least 0, got -1');
    expect(await refused({ epoch: 5 })).toBe(`config: unknown key 'epoch' (keys: ${Object.keys(defaultConfig).join(', ')})`);
    expect(await refused(null)).toBe('config: expected an object, got null');
  });

  it('the command line refuses the same values with the same words, naming the flag', () => {
    const cli = (...argv: string[]) => {
      try {
        parseArgs(trainSpec, argv);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      return null;
    };
    expect(cli('--batch', '0')).toBe('--batch: must be at least 1, got 0');
    expect(cli('--optimizer', 'rmsprop')).toBe("--optimizer: expected one of sgd|momentum|adam, got 'rmsprop'");
    expect(cli('--momentum', '1')).toBe('--momentum: must be at least 0 and below 1, got 1');
    expect(cli('--seed', '4294967296')).toBe('--seed: must be from 0 to 4294967295, got 4294967296');
    // One table: each configuration flag carries its key's rule.
    const flags: Record<string, keyof TrainConfig> = { 'weight-decay': 'weightDecay', 'step-size': 'stepSize', 'min-delta': 'minDelta' };
    for (const key of Object.keys(CONFIG_RULES) as (keyof TrainConfig)[]) {
      const flag = Object.keys(flags).find((f) => flags[f] === key) ?? key;
      if (key === 'sparse') continue; // not a flag
      const spec = trainSpec.flags[flag];
      const { type, min, max, below, choices } = CONFIG_RULES[key];
      expect({ type: spec.type, min: spec.min, max: spec.max, below: spec.below, choices: spec.choices }, flag).toEqual({ type, min, max, below, choices });
    }
  });

  it('undefined counts as not given', () => {
    expect(resolveConfig({ epochs: undefined, batch: 32 }, defaultConfig)).toEqual({ ...defaultConfig, batch: 32 });
  });
});

describe('seeds: exactly the integers 0 … 2^32−1', () => {
  it('refuses the rest up front (no reduction modulo 2^32, nothing a checkpoint cannot keep)', async () => {
    expect(await refused({ seed: 1e300 })).toBe('seed: must be from 0 to 4294967295, got 1e+300');
    expect(await refused({ seed: 2 ** 53 + 1 })).toBe('seed: must be from 0 to 4294967295, got 9007199254740992');
    expect(await refused({ seed: 4294967296 })).toBe('seed: must be from 0 to 4294967295, got 4294967296');
    expect(await refused({ seed: -1 })).toBe('seed: must be from 0 to 4294967295, got -1');
    expect(await refused({ seed: 1.5 })).toBe('seed: expected a whole number, got 1.5');
  });

  it('2^32−1 trains, and its checkpoint gives the seed back', async () => {
    const t = await Trainer.create(data, { ...small, epochs: 1, seed: 4294967295 });
    await t.run();
    t.close();
    expect(decodeCheckpoint(t.encodeBest(), 'best').info.seed).toBe(4294967295);
    expect(decodeCheckpoint(t.encodeLast(), 'last').info.seed).toBe(4294967295);
  });
});

describe('Trainer.run refuses what it would ignore', () => {
  it('run({ epochs }) is refused, pointing to the config; an unknown option too; hook values are checked', async () => {
    const t = await Trainer.create(data, { ...small, epochs: 1 });
    try {
      const options = 'run takes onBatch, onEpoch, shouldStop, batchEvery, yieldEvery';
      const run = (hooks: unknown) => t.run(hooks as never);
      await expect(run({ epochs: 5 })).rejects.toThrow(new UsageError(`run: 'epochs' is set in Trainer.create's config, not in run() (${options})`));
      await expect(run({ onBatches: () => {} })).rejects.toThrow(new UsageError(`run: unknown option 'onBatches' (${options})`));
      await expect(run({ batchEvery: 0 })).rejects.toThrow(new UsageError('batchEvery: must be at least 1, got 0'));
      await expect(run({ onEpoch: 'print' })).rejects.toThrow(new UsageError("onEpoch: expected a function, got 'print'"));
      expect(t.epoch).toBe(0); // nothing ran
      expect((await run({ batchEvery: 2, onBatch: undefined })).epochs).toBe(1);
    } finally {
      t.close();
    }
  });
});

describe('a threaded Trainer that is never closed', () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  // Finalizers run in a task some time after the collection that found the object unreachable (later on a busy
  // machine): collect until `done` (at most about 4 s), then at least three times.
  const collect = async (done: () => boolean = () => true) => {
    for (let i = 0; i < 200 && (i < 3 || !done()); i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const rssMb = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;

  /** Creates and runs a 2-thread trainer, drops it without close(), returns its pool (which does not reach the trainer). */
  async function dropped(): Promise<Pool> {
    const t = await Trainer.create(data, { ...small, epochs: 1, threads: 2 });
    await t.run();
    expect(t.model.eng.threads).toBe(2); // its pool open when the trainer is dropped
    return t.model.eng.pool!;
  }

  it('stops its workers once garbage collected', async () => {
    const pools = [await dropped(), await dropped()];
    await collect(() => pools.every((p) => !p.isOpen));
    expect(pools.map((p) => p.isOpen)).toEqual([false, false]);
  });

  it('20 create+run cycles as the README shows them: memory stays flat', async () => {
    await dropped();
    await collect();
    const before = rssMb();
    for (let i = 0; i < 20; i++) {
      await dropped();
      await collect();
    }
    const growth = rssMb() - before;
    expect(growth, `RSS grew ${growth.toFixed(1)} MB over 20 cycles`).toBeLessThan(40);
  });
});
