// The page's pure parts in Node: the form (library defaults, one-line field errors), its words for
// durations, run ends and divergence, the speed over a stopped run, and the charts' axes.
import { describe, expect, it } from 'vitest';
import { DivergenceError, Trainer, defaultConfig } from '../src/index.js';
import { defaultFormValues, readClasses, readForm, type FormValues } from '../web/form.js';
import { duration, errorMessage, rate, runEndStatus, type RunEnd } from '../web/messages.js';
import { chartAxes, describeChart, tickLabel, type Series } from '../web/plot.js';
import { TrainingSpeed } from '../web/speed.js';

const limits = { trainCount: 60_000, maxThreads: 2 };
const form = (over: Partial<FormValues> = {}): FormValues => ({ ...defaultFormValues(60_000, 2), ...over });

describe('the training form', () => {
  it("starts from the library's defaultConfig: one source for the page and `barenet train`", () => {
    expect(defaultFormValues(60_000, 2)).toEqual({
      arch: 'mlp', epochs: '12', batch: '64', lr: '0.05', optimizer: 'momentum', schedule: 'cosine', seed: '1', subset: '60000', threads: '2',
    });
    expect(readForm(form(), limits)).toEqual({ config: { ...defaultConfig, threads: 2 }, subset: 60_000 });
    const { config, subset } = readForm(form({ arch: 'dense:32, dense:16', epochs: '3', lr: '1e-3', optimizer: 'adam', seed: '4294967295', subset: '500', threads: '1' }), limits);
    expect(subset).toBe(500);
    expect(config).toEqual({ ...defaultConfig, arch: 'dense:32,dense:16', epochs: 3, lr: 0.001, optimizer: 'adam', seed: 4294967295, threads: 1 });
  });

  it('refuses each bad field in one line naming it', () => {
    const error = (over: Partial<FormValues>) => {
      try {
        readForm(form(over), limits);
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(error({ epochs: '0' })).toBe('epochs: a positive whole number is needed');
    expect(error({ epochs: '' })).toBe('epochs: a positive whole number is needed');
    expect(error({ batch: '2.5' })).toBe('batch: a positive whole number is needed');
    expect(error({ batch: '0x10' })).toBe('batch: a positive whole number is needed');
    expect(error({ subset: '0' })).toBe('training images: a whole number from 1 to 60,000 is needed');
    expect(error({ subset: '60001' })).toBe('training images: a whole number from 1 to 60,000 is needed');
    expect(error({ subset: '' })).toBe('training images: a whole number from 1 to 60,000 is needed');
    expect(error({ seed: '-1' })).toBe('seed: a whole number from 0 to 4,294,967,295 is needed');
    expect(error({ seed: '4294967296' })).toBe('seed: a whole number from 0 to 4,294,967,295 is needed');
    expect(error({ threads: '3' })).toBe('threads: a whole number from 1 to 2 is needed');
    expect(error({ lr: '0' })).toBe('learning rate: a positive number is needed');
    expect(error({ lr: '' })).toBe('learning rate: a positive number is needed');
    expect(error({ arch: 'dense:256,dense:0' })).toBe("architecture: 'dense:0' needs a positive whole number of units, e.g. dense:128");
    expect(error({ arch: 'lenet' })).toBe("architecture: 'lenet' is not a layer; SPEC is a preset (mlp, lenet5, convnet) or layers conv<K>x<K>:<out>[/s<S>][/p<P>], maxpool<K>, dense:<units>, dropout:<p>");
    // checked against the data's shape once it is loaded
    const mnist = { ...limits, input: { c: 1, h: 28, w: 28 }, classes: 10 };
    expect(() => readForm(form({ arch: 'conv29x29:4' }), mnist)).toThrow("architecture: 'conv29x29:4' (layer 1) needs an input of at least 29×29 pixels, and gets 1×28×28 (channels×rows×cols)");
    expect(error({ batch: '600', subset: '500' })).toBe('batch: at most 500, the number of training images');
    expect(error({ arch: '' })).toBe('accepted'); // no hidden layer: a linear classifier
  });

  it('reads the classes field: empty is the labels’ maximum + 1, else 2 to 256', () => {
    expect(readClasses('')).toBeUndefined();
    expect(readClasses(' 12 ')).toBe(12);
    for (const bad of ['1', '257', '3.5', 'x']) expect(() => readClasses(bad)).toThrow('classes: a whole number from 2 to 256 is needed');
  });
});

describe("the page's words", () => {
  it('durations read as s, min, h, d (never "35706 min")', () => {
    expect([0, 4.4, 59.4, 60, 61, 125, 3599, 3600, 35706 * 60, 86400 * 3 + 7200].map(duration)).toEqual([
      '0 s', '4 s', '59 s', '1 min 00 s', '1 min 01 s', '2 min 05 s', '59 min 59 s', '1 h 00 min', '24 d 19 h', '3 d 2 h',
    ]);
  });

  it('a divergence names the learning rate field, rounded, not the CLI flag', () => {
    expect(rate(0.0012345678)).toBe('0.00123');
    expect(rate(123.456789)).toBe('123');
    const flat = new DivergenceError('training diverged: … try a lower --lr', { what: 'the loss became NaN at epoch 1, batch 3', lr: 123.456789, base: 123.456789 });
    expect(errorMessage(flat)).toBe('training diverged: the loss became NaN at epoch 1, batch 3 (learning rate 123); try a lower learning rate');
    const scheduled = new DivergenceError('x', { what: 'the test loss became Infinity after epoch 2', lr: 0.7071067811865476, base: 1 });
    expect(errorMessage(scheduled)).toBe('training diverged: the test loss became Infinity after epoch 2 (learning rate 0.707 at that step, set to 1); try a lower learning rate');
    expect(errorMessage(new Error('data: bad'))).toBe('data: bad');
  });

  it("the trainer's divergence carries what the page needs", async () => {
    const n = 64;
    const images = new Uint8Array(n * 4).map((_, i) => (i * 37) % 256);
    const labels = new Uint8Array(n).map((_, i) => i % 2);
    const split = { images, labels, count: n };
    const t = await Trainer.create({ rows: 2, cols: 2, classes: 2, train: split, val: null, test: split, fingerprint: '' }, { ...defaultConfig, arch: 'dense:8', batch: 8, lr: 1e30, schedule: 'none', threads: 1, epochs: 1 });
    const err = await t.run().catch((e: unknown) => e);
    t.close();
    expect(err).toBeInstanceOf(DivergenceError);
    expect(errorMessage(err)).toMatch(/^training diverged: the loss became (NaN|Infinity) at epoch 1, batch \d \(learning rate 1e\+30\); try a lower learning rate$/);
  });

  const end: RunEnd = { reason: 'completed', epochs: 12, batchInEpoch: 0, batches: 94, trainCount: 6000, samples: 72_000, samplesPerSecond: 41_234.4, threads: 2, build: 'relaxed' };
  it('a run that ends says how far it got, how many samples at what speed', () => {
    expect(runEndStatus(end)).toBe('Training completed: 12 epochs on 6,000 images at 41,234 samples/s, 2 threads, relaxed build.');
    expect(runEndStatus({ ...end, reason: 'interrupted', epochs: 2, batchInEpoch: 40, samples: 14_560, threads: 1 })).toBe(
      'Training stopped in epoch 3 at batch 40 of 94: 14,560 samples trained at 41,234 samples/s, 1 thread, relaxed build.',
    );
    expect(runEndStatus({ ...end, reason: 'interrupted', epochs: 1, samples: 6000 })).toBe('Training stopped after 1 epoch: 6,000 samples trained at 41,234 samples/s, 2 threads, relaxed build.');
    expect(runEndStatus({ ...end, reason: 'interrupted', epochs: 0, samples: 0, samplesPerSecond: 0 })).toBe('Training stopped before its first batch (2 threads, relaxed build).');
  });
});

describe('training speed over a run', () => {
  it('counts a part-epoch stop, excludes pauses, and adds whole epochs at the trainer’s timing', () => {
    let now = 100;
    const s = new TrainingSpeed(6000, 64, () => now);
    s.start(0);
    now += 2; // 40 batches, then a stop request (pause)
    s.halt(40);
    s.halt(40); // polled again: counted once
    expect([s.samples, s.seconds]).toEqual([2560, 2]);
    now += 50; // paused
    s.start(40);
    s.epoch(1.5); // the trainer timed the rest of the epoch (batches 41–94)
    expect(s.samples).toBe(6000);
    now += 0.25;
    s.halt(10);
    expect(s.samples).toBe(6640);
    expect(s.seconds).toBeCloseTo(3.75, 12);
    expect(s.perSecond).toBeCloseTo(6640 / 3.75, 9);
    expect(new TrainingSpeed(10, 64, () => 0).perSecond).toBe(0);
  });
});

describe('charts', () => {
  const acc: Series = { label: 'test accuracy', color: '#2a7', points: [], dots: true };
  it('read sensibly before any point: the run’s epochs, 0 to 1; no exponents', () => {
    expect(chartAxes([acc], { xLabel: 'epoch', xMax: 12, yMin: 0, yMax: 1, percent: true })).toMatchObject({ xTicks: ['0', '12'], yTicks: ['0%', '100%'] });
    expect(chartAxes([], { xLabel: 'epoch' })).toMatchObject({ x0: 0, x1: 1, y0: 0, y1: 1, xTicks: ['0', '1'], yTicks: ['0', '1'] });
    expect(describeChart('Test accuracy by epoch', [acc], chartAxes([acc], { xLabel: 'epoch', xMax: 12, yMin: 0, yMax: 1, percent: true }), { xLabel: 'epoch', percent: true })).toBe(
      'Test accuracy by epoch (epoch 0 to 12, 0% to 100%): no points yet.',
    );
  });

  it('one point lies inside the range; y ends are rounded; labels use plain decimals', () => {
    const one = { ...acc, points: [{ x: 1, y: 0.9512 }] };
    const axes = chartAxes([one], { xLabel: 'epoch', xMax: 12, yMin: 0.9, yMax: 1, percent: true });
    expect(axes).toMatchObject({ x0: 0, x1: 12, yTicks: ['90%', '100%'] });
    expect(describeChart('Test accuracy by epoch', [one], axes, { xLabel: 'epoch', percent: true })).toBe('Test accuracy by epoch (epoch 0 to 12, 90% to 100%): test accuracy 95.12% at epoch 1.');
    const loss = chartAxes([{ ...acc, points: [{ x: 1, y: 0.242 }] }], { xLabel: 'epoch', yMin: 0 });
    expect([loss.y1, loss.yTicks]).toEqual([0.25, ['0', '0.25']]);
    const flat = chartAxes([{ ...acc, points: [{ x: 1, y: 2 }, { x: 2, y: 2 }] }], { xLabel: 'epoch' });
    expect([flat.y0, flat.y1]).toEqual([1.8, 2.2]);
    for (const [v, span] of [[1e-9, 1e-9], [0.000123, 0.0001], [123456, 1e5], [0.5, 1]]) expect(tickLabel(v, span)).not.toMatch(/e/);
    expect(tickLabel(0.000123, 0.0001)).toBe('0.00012');
  });
});
