// Early stopping: the rule on scripted loss curves, and the trainer's behaviour when it fires (best weights
// restored, stopped_early, best_epoch), with the validation loss scripted through the model's evaluate().
import { describe, expect, it } from 'vitest';
import { EarlyStopping, type Verdict } from '../src/train/early-stopping.js';
import { Trainer, defaultConfig, type TrainConfig } from '../src/train/trainer.js';
import { decodeCheckpoint } from '../src/checkpoint/model-checkpoint.js';
import type { DeviceSplit } from '../src/model/network.js';
import { trainData } from './fixtures.js';

function verdicts(curve: number[], patience: number, minDelta = 0): Verdict[] {
  const s = new EarlyStopping(patience, minDelta);
  return curve.map((l, i) => s.update(l, i + 1));
}

describe('EarlyStopping', () => {
  it('stops after `patience` epochs without a lower loss, remembering the best epoch', () => {
    const s = new EarlyStopping(3, 0);
    const out = [1.0, 0.8, 0.85, 0.9, 0.95].map((l, i) => s.update(l, i + 1));
    expect(out).toEqual(['improved', 'improved', 'waiting', 'waiting', 'stop']);
    expect(s.state).toEqual({ bestLoss: 0.8, bestEpoch: 2, badEpochs: 3 });
  });

  it('an improvement resets the count of bad epochs', () => {
    expect(verdicts([1, 1.1, 0.9, 1.0, 1.0, 0.5, 0.6, 0.7], 2)).toEqual([
      'improved', 'waiting', 'improved', 'waiting', 'stop', 'improved', 'waiting', 'stop',
    ]);
  });

  it('an equal loss is not an improvement; min-delta raises the bar', () => {
    expect(verdicts([1, 1, 1], 5)).toEqual(['improved', 'waiting', 'waiting']);
    // 0.95 is not below 1 − 0.1; 0.85 is.
    expect(verdicts([1, 0.95, 0.85, 0.8], 5, 0.1)).toEqual(['improved', 'waiting', 'improved', 'waiting']);
  });

  it('patience 0 never stops', () => {
    expect(verdicts([1, 2, 3, 4, 5, 6, 7, 8], 0).every((v) => v !== 'stop')).toBe(true);
  });

  it('patience 1 stops at the first bad epoch', () => {
    expect(verdicts([1, 0.5, 0.6], 1)).toEqual(['improved', 'improved', 'stop']);
  });

  it('NaN is never an improvement, not even first', () => {
    const s = new EarlyStopping(2, 0);
    expect(s.update(NaN, 1)).toBe('waiting');
    expect(s.bestLoss).toBe(null);
    expect(s.update(0.5, 2)).toBe('improved');
    expect(s.update(NaN, 3)).toBe('waiting');
    expect(s.update(NaN, 4)).toBe('stop');
    expect(s.bestEpoch).toBe(2);
  });

  it('continues from a saved state exactly as without the save', () => {
    const curve = [1, 0.7, 0.8, 0.6, 0.65, 0.7, 0.75];
    const whole = verdicts(curve, 3);
    const a = new EarlyStopping(3, 0);
    const first = curve.slice(0, 3).map((l, i) => a.update(l, i + 1));
    const b = new EarlyStopping(3, 0, a.state);
    const rest = curve.slice(3).map((l, i) => b.update(l, i + 4));
    expect([...first, ...rest]).toEqual(whole);
  });
});

describe('Trainer with early stopping (scripted validation loss)', () => {
  const data = trainData(600, 200, 200);
  const config: TrainConfig = { ...defaultConfig, arch: 'dense:16', batch: 50, epochs: 10, patience: 2, schedule: 'none' };

  /** A trainer whose validation loss per epoch is `curve[epoch - 1]`; the real evaluation runs for the rest. */
  async function scripted(curve: number[], cfg: TrainConfig = config) {
    const t = await Trainer.create(data, cfg);
    const real = t.model.evaluate.bind(t.model);
    let epoch = 0;
    t.model.evaluate = (split: DeviceSplit) => {
      const r = real(split);
      return split === (t as any).val ? { ...r, loss: curve[epoch] } : r;
    };
    const weights: Float32Array[] = [];
    const bestFiles: Uint8Array[] = [];
    const result = await t.run({
      onEpoch: (m, tr) => {
        weights.push(tr.model.paramView().slice());
        if (m.improved) bestFiles.push(tr.encodeBest());
        epoch++;
      },
    });
    // The hook runs after the epoch's evaluation; `epoch` indexes the next one.
    return { t, result, weights, bestFiles };
  }

  it('stops after patience bad epochs and restores the best epoch’s weights', async () => {
    const { t, result, weights, bestFiles } = await scripted([1.0, 0.8, 0.5, 0.6, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1]);
    expect(result.reason).toBe('early-stopping');
    expect(result.epochs).toBe(5);
    expect(result.bestEpoch).toBe(3);
    expect(result.history.map((h) => h.improved)).toEqual([true, true, true, false, false]);
    expect(result.history.map((h) => h.val_loss)).toEqual([1.0, 0.8, 0.5, 0.6, 0.7]);
    // The weights in the model at the end are those after epoch 3, bit for bit, not those after epoch 5.
    expect(Buffer.from(t.model.paramView().buffer, t.model.paramView().byteOffset, t.model.paramView().byteLength))
      .toEqual(Buffer.from(weights[2].buffer));
    expect(weights[4]).not.toEqual(weights[2]);
    // The test metrics reported are those of the restored weights.
    expect(result.test.loss).toBe(result.history[2].test_loss);
    expect(result.test.accuracy).toBe(result.history[2].test_accuracy);
    // best.safetensors as last written says epoch 3 and holds those weights.
    const best = decodeCheckpoint(bestFiles[bestFiles.length - 1], 'best');
    expect(best.info.epoch).toBe(3);
    expect(t.encodeBest()).toEqual(bestFiles[bestFiles.length - 1]);
  });

  it('runs every epoch when the loss keeps falling, and the best epoch is the last', async () => {
    const curve = Array.from({ length: 10 }, (_, i) => 1 - i / 20);
    const { result, t, weights } = await scripted(curve, { ...config, epochs: 4 });
    expect(result.reason).toBe('completed');
    expect(result.epochs).toBe(4);
    expect(result.bestEpoch).toBe(4);
    expect(t.model.paramView()).toEqual(weights[3]);
  });

  it('patience running out on the last epoch stops nothing: the run completed', async () => {
    const { result, t, weights } = await scripted([1, 0.8, 0.5, 0.6, 0.7], { ...config, epochs: 5 });
    expect(result.reason).toBe('completed');
    expect(result.epochs).toBe(5);
    expect(result.bestEpoch).toBe(3);
    expect(t.model.paramView()).toEqual(weights[2]);
    // One epoch more and the same curve stops early: an epoch is skipped.
    const longer = await scripted([1, 0.8, 0.5, 0.6, 0.7, 0.1], { ...config, epochs: 6 });
    expect([longer.result.reason, longer.result.epochs]).toEqual(['early-stopping', 5]);
  });

  it('patience 0: no early stop, but the best weights are still restored', async () => {
    const { result, t, weights } = await scripted([1, 0.5, 0.9, 0.9, 0.9], { ...config, epochs: 5, patience: 0 });
    expect(result.reason).toBe('completed');
    expect(result.epochs).toBe(5);
    expect(result.bestEpoch).toBe(2);
    expect(t.model.paramView()).toEqual(weights[1]);
  });

  it('without a validation split: every epoch counts as best, no early stop', async () => {
    const t = await Trainer.create(trainData(600, 0, 200), { ...config, epochs: 3 });
    const r = await t.run();
    expect(r.reason).toBe('completed');
    expect(r.bestEpoch).toBe(3);
    expect(r.val).toBe(null);
    expect(r.history.every((h) => h.improved && h.val_loss === null)).toBe(true);
  });
});
