// The benchmark suite's plumbing (bench/): interleaved rounds, B5/B6 rows and tables from canned runs (a missing
// barenet, a peer that cannot train, extrapolated runs, the targets' verdicts), and RESULTS.md's sections.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cnnRows, cnnSection, fromPeer, verdict, type CnnRun } from '../bench/cnn.js';
import { interleave, type Absent, type Contender } from '../bench/interleave.js';
import type { PeerResult } from '../bench/peers.js';
import { readSections, writeResults, type Section } from '../bench/results.js';

const quiet = { log: () => {}, describe: () => '' };

/** Contenders that return canned results round after round. */
function canned(specs: { name: string; threads: number; runs: (CnnRun | Absent)[] }[]) {
  return specs.map((s): Contender<CnnRun> => {
    let i = 0;
    return { name: s.name, threads: s.threads, run: async () => s.runs[i++] };
  });
}

const epoch = (secs: number, o: Partial<CnnRun> = {}): CnnRun => ({
  epoch_seconds: secs,
  samples: 60000,
  test_accuracy: 0.98,
  test_samples: 10000,
  inference1000: 5000,
  inference100: 6000,
  inference_samples: 10000,
  ...o,
});
const wasmError = "Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'";
const cannotTrain = epoch(0, { epoch_seconds: null, train_error: wasmError, test_accuracy: 0.1, inference1000: 7000, inference100: 5500 });
const opts = { trainCount: 60000, testCount: 10000, defaultBuild: 'relaxed', tfjsSeconds: 20 };
const rounds = async (specs: Parameters<typeof canned>[0], n = 3) => cnnRows(await interleave('B5', canned(specs), n, quiet));
const cells = (s: Section, name: string, threads = 1) => s.tables[0].body.find((r) => r[0] === name && r[1] === String(threads))!;

describe('interleave', () => {
  it('runs every contender once per round, in order, and stops asking one that was absent in every round', async () => {
    const calls: string[] = [];
    const mk = (name: string, absent: boolean): Contender<number> => ({
      name,
      threads: 1,
      run: async () => (calls.push(name), absent ? { absent: `${name} is not installed` } : calls.length),
    });
    const res = await interleave('B1', [mk('a', false), mk('b', true), mk('c', false)], 3, quiet);
    expect(calls).toEqual(['a', 'b', 'c', 'a', 'c', 'a', 'c']);
    expect([...res.values()]).toEqual([[1, 4, 6], [{ absent: 'b is not installed' }], [3, 5, 7]]);
  });
});

describe('B5/B6 rows and table', () => {
  it('shows a missing barenet, a peer that cannot train (its error, its inference) and extrapolated runs', async () => {
    const rows = await rounds([
      { name: 'barenet (relaxed)', threads: 1, runs: [{ absent: 'barenet CNN engine not merged yet' }] },
      { name: 'torch', threads: 1, runs: [epoch(3.2), epoch(2.9), epoch(3.0, { inference1000: 4000 })] },
      { name: 'tfjs-wasm', threads: 1, runs: [cannotTrain, cannotTrain, cannotTrain] },
      {
        name: 'tfjs-cpu',
        threads: 1,
        runs: [512, 640, 576].map((n, i) => epoch(2300 + i, { samples: n, test_accuracy: 0.3, test_samples: 3600, inference1000: 350, inference_samples: 8000 })),
      },
    ]);
    const s = cnnSection('lenet5', rows, [], opts);
    expect(s.name).toBe('b5');
    expect(s.tables[0].head[0]).toBe('B5 (one epoch, 60,000 images)');
    expect(cells(s, 'barenet (relaxed)')).toEqual(['barenet (relaxed)', '1', 'missing', '', '', '', '', '', '', 'missing: barenet CNN engine not merged yet']);
    expect(cells(s, 'torch')).toEqual(['torch', '1', '3.00', '20,000', '98.00%', '–', '5,000', '6,000', '3.20 2.90 3.00', '']);
    expect(cells(s, 'tfjs-wasm')).toEqual(['tfjs-wasm', '1', 'cannot train', '', '', '', '7,000', '5,500', '', `cannot train: ${wasmError}`]);
    expect(cells(s, 'tfjs-cpu')).toEqual([
      'tfjs-cpu', '1', '2301.00', '26', '30.00%', '–', '350', '6,000', '2300.00 2301.00 2302.00',
      'extrapolated from 512–640 images; accuracy on the first 3,600 test images; inference over the first 8,000 test images',
    ]);
    expect(s.notes[0]).toBe('Targets (issue 15): no barenet row to compare (barenet CNN engine not merged yet).');
  });

  it('compares barenet with PyTorch: ratios, the 2-thread speed-up and the targets with verdicts', async () => {
    const rows = await rounds([
      { name: 'barenet (relaxed)', threads: 1, runs: [epoch(2.4, { inference1000: 9000 })] },
      { name: 'barenet (relaxed)', threads: 2, runs: [epoch(1.5)] },
      { name: 'torch', threads: 1, runs: [epoch(3.0, { inference1000: 4500 })] },
      { name: 'torch', threads: 2, runs: [epoch(6.0)] },
    ], 1);
    const s = cnnSection('lenet5', rows, [1.5, 1.9, 1.7], opts);
    expect(cells(s, 'torch')[5]).toBe('1.25');
    expect(cells(s, 'torch', 2)[5]).toBe('2.50');
    expect(s.notes.slice(0, 5)).toEqual([
      'B5 on 2 threads vs 1 (medians): barenet ×1.60.',
      "This machine's own two-thread scaling on independent work (benchThreadScaling, after each barenet B5 run): median ×1.70 (1.50–1.90, 3 samples).",
      'B5 one epoch, 1 thread: barenet / PyTorch 1 thread 0.80 (target ≤ 1.00, aim 0.70): met; aim not.',
      "B5 one epoch, 2 threads: barenet / PyTorch's best (1 thread) 0.50 (target ≤ 0.67, aim 0.50): met; aim met.",
      'B5 inference, batch 1000, 1 thread: barenet / PyTorch samples/s 2.00 (target ≥ 1.00, aim 2.00): met; aim met.',
    ]);
    const b6 = cnnSection('convnet', rows, [], { ...opts, batches: 200 });
    expect(b6.name).toBe('b6');
    expect(b6.intro).toBe('Contenders run interleaved, the first 200 batches of an epoch (12,800 images) each per round; medians.');
    expect(b6.notes[1]).toBe('B6 one epoch, 1 thread: barenet / PyTorch 1 thread 0.80 (target ≤ 0.70, aim 0.50): missed by 14%.');
  });

  it('a peer whose runs spread more than 1.5× gets a second verdict, against its fastest run', async () => {
    const rows = await rounds([
      { name: 'barenet (relaxed)', threads: 1, runs: [epoch(9.0), epoch(9.2), epoch(9.1)] },
      { name: 'torch', threads: 1, runs: [epoch(80), epoch(13), epoch(60)] },
    ]);
    expect(cnnSection('convnet', rows, [], opts).notes).toEqual([
      'B6 one epoch, 1 thread: barenet / PyTorch 1 thread 0.15 (target ≤ 0.70, aim 0.50): met; aim met.',
      "(PyTorch's 1-thread runs spread from 13.00 to 80.00 s: against its fastest, 0.70: met; aim not.)",
      expect.stringMatching(/^Extrapolated/),
    ]);
    const steady = await rounds([
      { name: 'barenet (relaxed)', threads: 1, runs: [epoch(9.1), epoch(9.1), epoch(9.1)] },
      { name: 'torch', threads: 1, runs: [epoch(13), epoch(19), epoch(14)] },
    ]);
    expect(cnnSection('convnet', steady, [], opts).notes.some((n) => n.includes('spread'))).toBe(false);
  });

  it('verdicts: lower or higher is better, missed by how much', () => {
    expect(verdict(1.2, 1.0, 0.7, 'lower')).toBe('missed by 20%');
    expect(verdict(0.7, 1.0, 0.7, 'lower')).toBe('met; aim met');
    expect(verdict(0.8, 1.0, 2.0, 'higher')).toBe('missed by 20%');
    expect(verdict(1.5, 1.0, 2.0, 'higher')).toBe('met; aim not');
  });

  it('reads a peer result: a training error keeps its inference; a partial epoch keeps its image count', () => {
    const peer = {
      epoch_seconds: [],
      test_accuracy: [0.09],
      test_samples: [10000],
      epochs_detail: [],
      train_error: wasmError,
      inference: { batch1000_sps: 6800, batch100_sps: 5300, samples: 10000 },
    } as unknown as PeerResult;
    expect(fromPeer(peer, 10000)).toEqual({
      epoch_seconds: null, train_error: wasmError, samples: 0, test_accuracy: 0.09, test_samples: 10000,
      inference1000: 6800, inference100: 5300, inference_samples: 10000,
    });
    const partial = { epoch_seconds: [111.3], test_accuracy: [0.94], epochs_detail: [{ samples: 6400 }], inference: null } as unknown as PeerResult;
    expect(fromPeer(partial, 10000)).toEqual({
      epoch_seconds: 111.3, samples: 6400, test_accuracy: 0.94, test_samples: 10000, inference1000: null, inference100: null, inference_samples: 10000,
    });
    expect(fromPeer({ absent: 'torch not importable' }, 10000)).toEqual({ absent: 'torch not importable' });
  });
});

describe('RESULTS.md sections', () => {
  const section = (name: Section['name'], figure: string): Section => ({
    name,
    title: `title ${name}`,
    intro: `intro ${name}.`,
    tables: [{ head: ['what', 'x'], body: [['row', figure]] }],
    notes: [`note ${name}`],
    json: null,
  });

  it('rewrites the sections run and keeps the others, in the order B1–B4, B5, B6', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'barenet-results-')), 'RESULTS.md');
    await writeResults('day 1', [section('b1-b4', '1.00'), section('b5', '2.00')], path);
    await writeResults('day 2', [section('b6', '3.00')], path);
    await writeResults('day 3', [section('b5', '4.00')], path);
    const text = readFileSync(path, 'utf8');
    const got = readSections(text);
    expect([...got.keys()]).toEqual(['b1-b4', 'b5', 'b6']);
    expect(got.get('b1-b4')).toContain('day 1. intro b1-b4.\n\n| what | x |\n| --- | ---: |\n| row | 1.00 |\n\nnote b1-b4  \n');
    expect(got.get('b5')).toContain('day 3. intro b5.');
    expect(got.get('b5')).toContain('| row | 4.00 |');
    expect(got.get('b6')).toContain('day 2. intro b6.');
    expect(text.indexOf('## title b1-b4')).toBeLessThan(text.indexOf('## title b5'));
    expect(text.indexOf('## title b5')).toBeLessThan(text.indexOf('## title b6'));
    expect(text.match(/## title b5/g)).toHaveLength(1);
  });

  it('a file without sections is replaced by the sections run', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'barenet-results-')), 'RESULTS.md');
    writeFileSync(path, '# Benchmark results\n\nan old table\n');
    await writeResults('day 1', [section('b6', '3.00')], path);
    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain('an old table');
    expect([...readSections(text).keys()]).toEqual(['b6']);
  });
});
