// Property tests with fast-check for every parser of untrusted bytes: IDX, safetensors, the dataset
// cross-checks and single images. Each case must either return a valid result or throw the typed
// error (DataError / CheckpointError) with a one-line message starting with the file's name, and fast.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, DataError } from '../src/errors.js';
import { encodeImagesIdx, encodeLabelsIdx, parseIdx, parseImages, parseLabels } from '../src/data/idx.js';
import { datasetFromBytes } from '../src/data/dataset-core.js';
import { decodeImage } from '../src/data/image.js';
import { decodeSafetensors, encodeSafetensors } from '../src/checkpoint/safetensors.js';

// BARENET_FUZZ_RUNS=20000 for a longer search.
const RUNS = Number(process.env.BARENET_FUZZ_RUNS) || 2000;
/** A single case slower than this fails: parsers must reject hostile input at once. */
const MAX_CASE_MS = 250;

const stats = new Map<string, { cases: number; ok: number; errors: number; maxMs: number }>();
afterAll(() => {
  const rows = [...stats].map(([k, s]) => `${k.padEnd(44)} ${String(s.cases).padStart(6)} cases  ${String(s.ok).padStart(5)} ok  ${String(s.errors).padStart(5)} typed errors  max ${s.maxMs.toFixed(1)} ms`);
  const total = [...stats.values()].reduce((a, s) => a + s.cases, 0);
  console.log(`fuzz cases:\n${rows.join('\n')}\ntotal ${total}`);
});

/**
 * Runs fn as one case of `property`: returns its result, or undefined if it threw the expected error
 * class with a one-line message starting with `name: `. Any other throw fails the test.
 */
function check<T>(property: string, name: string | RegExp, ErrorClass: typeof DataError | typeof CheckpointError, fn: () => T): T | undefined {
  const s = stats.get(property) ?? { cases: 0, ok: 0, errors: 0, maxMs: 0 };
  stats.set(property, s);
  s.cases++;
  let t0 = performance.now();
  try {
    const r = fn();
    s.ok++;
    return r;
  } catch (err) {
    if (!(err instanceof ErrorClass)) throw new Error(`${property}: threw ${String(err)} instead of ${ErrorClass.name}`);
    const msg = err.message;
    if (/[\n\r\u2028\u2029]/.test(msg)) throw new Error(`${property}: multi-line message ${JSON.stringify(msg)}`);
    const named = typeof name === 'string' ? msg.startsWith(`${name}: `) : name.test(msg);
    if (!named) throw new Error(`${property}: message does not name the file: ${msg}`);
    if (msg.length > 300) throw new Error(`${property}: message of ${msg.length} characters`);
    s.errors++;
    return undefined;
  } finally {
    let ms = performance.now() - t0;
    if (ms > MAX_CASE_MS) {
      // A GC pause or a busy machine? Time it again before calling the parser slow.
      t0 = performance.now();
      try {
        fn();
      } catch {
        // the outcome was checked above
      }
      ms = performance.now() - t0;
      if (ms > MAX_CASE_MS) throw new Error(`${property}: one case took ${ms.toFixed(0)} ms, twice`);
    }
    s.maxMs = Math.max(s.maxMs, ms);
  }
}

// ---------------------------------------------------------------- IDX

function checkIdx(property: string, bytes: Uint8Array): void {
  const r = check(property + ' parseIdx', 'f', DataError, () => parseIdx(bytes, 'f'));
  if (r) {
    expect(r.data.length).toBe(r.dims.reduce((a, b) => a * b, 1));
    expect(4 + 4 * r.dims.length + r.data.length).toBe(bytes.length);
  }
  const im = check(property + ' parseImages', 'f', DataError, () => parseImages(bytes, 'f'));
  if (im) {
    expect(im.count * im.rows * im.cols).toBe(im.pixels.length);
    expect(im.count && im.rows && im.cols).toBeGreaterThan(0);
    expect(16 + im.pixels.length).toBe(bytes.length);
  }
  const lb = check(property + ' parseLabels', 'f', DataError, () => parseLabels(bytes, 'f'));
  if (lb) expect(8 + lb.labels.length).toBe(bytes.length);
}

const u32 = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 28, 0x7fffffff, 0x80000000, 0xffffffff),
  fc.integer({ min: 0, max: 40 }),
  fc.nat(),
  fc.integer({ min: 0, max: 0xffffffff }),
);

/** A valid images or labels file of small random size. */
const validIdx = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })).map(([n, r, c]) =>
    encodeImagesIdx(new Uint8Array(n * r * c).map((_, i) => i * 31), n, r, c),
  ),
  fc.uint8Array({ maxLength: 30 }).map((l) => encodeLabelsIdx(l)),
);

describe('fuzz IDX', () => {
  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), (b) => checkIdx('idx random bytes', b)), { numRuns: RUNS });
  });

  it('random bytes behind a valid-looking magic', () => {
    const magic = fc.constantFrom([0, 0, 8, 3], [0, 0, 8, 1], [0, 0, 8, 2], [0, 0, 8, 0], [0, 0, 8, 255], [0, 0, 13, 3]);
    fc.assert(fc.property(magic, fc.uint8Array({ maxLength: 120 }), (m, rest) => checkIdx('idx magic + random', Uint8Array.from([...m, ...rest]))), { numRuns: RUNS });
  });

  it('huge and random dims in short files never allocate', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 3, 4, 255), fc.array(u32, { minLength: 0, maxLength: 8 }), fc.nat({ max: 64 }), (nd, dims, extra) => {
        const b = new Uint8Array(4 + 4 * dims.length + extra);
        const v = new DataView(b.buffer);
        b.set([0, 0, 8, nd]);
        dims.forEach((d, i) => v.setUint32(4 + 4 * i, d));
        checkIdx('idx huge dims', b);
      }),
      { numRuns: RUNS },
    );
  });

  it('truncation at every byte and extra bytes', () => {
    const files = [encodeImagesIdx(new Uint8Array(3 * 4 * 5).fill(7), 3, 4, 5), encodeLabelsIdx(new Uint8Array([1, 2, 3, 4, 5]))];
    for (const f of files) {
      for (let cut = 0; cut < f.length; cut++) {
        checkIdx('idx truncation (every byte)', f.subarray(0, cut));
        expect(() => parseIdx(f.subarray(0, cut), 'f')).toThrow(DataError);
      }
    }
    fc.assert(
      fc.property(validIdx, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 9 }), (f, cut, tail) => {
        const short = f.subarray(0, cut % f.length);
        checkIdx('idx random truncation/extension', short);
        expect(() => parseIdx(short, 'f')).toThrow(DataError);
        const long = Uint8Array.from([...f, ...tail]);
        checkIdx('idx random truncation/extension', long);
        expect(() => parseIdx(long, 'f')).toThrow(DataError);
      }),
      { numRuns: RUNS },
    );
  });

  it('mutated headers', () => {
    fc.assert(
      fc.property(validIdx, fc.array(fc.tuple(fc.nat({ max: 15 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (f, muts) => {
        const b = Uint8Array.from(f);
        for (const [i, v] of muts) if (i < b.length) b[i] = v;
        checkIdx('idx mutated header', b);
      }),
      { numRuns: RUNS },
    );
  });

  it('datasetFromBytes with mutated files', () => {
    const make = (n: number, classes: number) => ({
      im: encodeImagesIdx(new Uint8Array(n * 6).map((_, i) => i), n, 2, 3),
      lb: encodeLabelsIdx(new Uint8Array(n).map((_, i) => i % classes)),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }), fc.nat({ max: 40 }), fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 12 }), fc.option(fc.integer({ min: 2, max: 12 }), { nil: undefined }),
        (which, at, value, val, classes) => {
          const tr = make(10, 3), te = make(4, 3);
          const bytes = [tr.im, tr.lb, te.im, te.lb].map((x) => Uint8Array.from(x));
          if (at < bytes[which].length) bytes[which][at] = value;
          // The message names whichever file is at fault: one of the four.
          const d = check('datasetFromBytes mutated', /^(ti|tl|ei|el): /, DataError, () =>
            datasetFromBytes(
              { trainImages: { name: 'ti', bytes: bytes[0] }, trainLabels: { name: 'tl', bytes: bytes[1] }, testImages: { name: 'ei', bytes: bytes[2] }, testLabels: { name: 'el', bytes: bytes[3] } },
              { val, classes },
            ),
          );
          if (d) {
            expect(d.train.count + (d.val?.count ?? 0)).toBe(10);
            expect(d.train.images.length).toBe(d.train.count * d.dim);
            for (const s of [d.train, d.val, d.test]) if (s) expect(Math.max(0, ...s.labels)).toBeLessThan(d.classes);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------- safetensors

function checkSt(property: string, bytes: Uint8Array): void {
  const r = check(property, 'm.st', CheckpointError, () => decodeSafetensors(bytes, 'm.st'));
  if (!r) return;
  let total = 0;
  for (const t of r.tensors.values()) {
    expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
    for (const x of t.data) expect(Number.isFinite(x)).toBe(true);
    total += 4 * t.data.length;
  }
  expect(total).toBeLessThanOrEqual(bytes.length);
  for (const v of Object.values(r.metadata)) expect(typeof v).toBe('string');
}

/** A file with this header text (padded to 8) and data. */
function stFile(text: string, data: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(text + ' '.repeat((8 - (new TextEncoder().encode(text).length % 8)) % 8));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const dtype = fc.oneof(
  { weight: 4, arbitrary: fc.constant('F32') },
  { weight: 1, arbitrary: fc.constantFrom('F16', 'BF16', 'F64', 'I32', 'U8', 'BOOL', 'f32', '', 7, null, [], {}) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);
const dimVal = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 2 ** 31, 2 ** 53, 1e300, '2', null, true) },
);
const offVal = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 48 }) },
  { weight: 1, arbitrary: fc.constantFrom(-4, -1, 0.5, 2 ** 32, 2 ** 53, 1e300, '8', null) },
);
const entry = fc.record({
  dtype,
  shape: fc.oneof({ weight: 8, arbitrary: fc.array(dimVal, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(null, 3, 'x', {}) }),
  data_offsets: fc.oneof(
    { weight: 8, arbitrary: fc.tuple(offVal, offVal) },
    { weight: 1, arbitrary: fc.array(offVal, { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.constantFrom(null, '0,8', {}) },
  ),
}, { requiredKeys: [] });
const header = fc.dictionary(fc.oneof(fc.constantFrom('w', 'b', '__metadata__', '__proto__', ''), fc.string({ maxLength: 8 })), fc.oneof({ weight: 8, arbitrary: entry }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) }), { maxKeys: 4 });
/** Data of 0..48 bytes, biased toward float32 bit patterns including NaN and ±Inf. */
const stData = fc.oneof(
  fc.uint8Array({ maxLength: 48 }),
  fc.float32Array({ maxLength: 12 }).map((a) => new Uint8Array(a.buffer)),
);

/** A valid checkpoint of 1..3 small tensors with random (finite) values and metadata. */
const validSt = fc
  .tuple(
    fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 5 }), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 })), { minLength: 1, maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
  )
  .map(([ts, meta]) => {
    const seen = new Set<string>(['__metadata__']);
    const tensors = ts.filter(([n]) => !seen.has(n) && seen.add(n)).map(([name, shape], k) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return { name, shape, data: new Float32Array(n).map((_, i) => (i + 1) * (k + 0.5)) };
    });
    return encodeSafetensors(tensors, meta);
  });

describe('fuzz safetensors', () => {
  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => checkSt('st random bytes', b)), { numRuns: RUNS });
  });

  it('random header lengths (u64) before random bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 64 }), (lo, hi, rest) => {
        const b = new Uint8Array(8 + rest.length);
        new DataView(b.buffer).setUint32(0, lo, true);
        new DataView(b.buffer).setUint32(4, hi % 4 === 0 ? 0 : hi, true);
        b.set(rest, 8);
        checkSt('st random header length', b);
      }),
      { numRuns: RUNS },
    );
  });

  it('truncation at every byte of the header and inside the data', () => {
    const f = encodeSafetensors([{ name: 'a', shape: [2, 3], data: new Float32Array(6).fill(1.5) }, { name: 'b', shape: [3], data: new Float32Array([1, 2, 3]) }], { k: 'v' });
    for (let cut = 0; cut < f.length; cut++) {
      checkSt('st truncation (every byte)', f.subarray(0, cut));
      expect(() => decodeSafetensors(f.subarray(0, cut), 'm.st')).toThrow(CheckpointError);
    }
    fc.assert(
      fc.property(validSt, fc.nat(), (file, cut) => {
        checkSt('st valid files round trip', file);
        expect(() => decodeSafetensors(file, 'm.st')).not.toThrow();
        checkSt('st random truncation', file.subarray(0, cut % file.length));
      }),
      { numRuns: RUNS },
    );
  });

  it('mutated headers: dtypes, shapes, offsets (negative, overlapping, past the end), metadata', () => {
    const meta = fc.option(fc.oneof(fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.string({ maxLength: 4 }), fc.integer())), fc.jsonValue({ maxDepth: 2 })), { nil: undefined });
    fc.assert(
      fc.property(header, meta, stData, (h, m, data) => {
        const obj: Record<string, unknown> = m === undefined ? { ...h } : { __metadata__: m, ...h };
        checkSt('st mutated header objects', stFile(JSON.stringify(obj), data));
      }),
      { numRuns: RUNS },
    );
  });

  it('mutated header text (non-JSON, bad UTF-8)', () => {
    // Bytes biased toward JSON syntax, line breaks and invalid UTF-8.
    const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x0a, 0x0d, 0x00, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x80, 0xe2, 0xff));
    fc.assert(
      fc.property(validSt, fc.array(fc.tuple(fc.nat(), byte), { minLength: 1, maxLength: 4 }), (file, muts) => {
        const b = Uint8Array.from(file);
        const n = new DataView(b.buffer).getUint32(0, true);
        for (const [i, v] of muts) b[8 + (i % n)] = v;
        checkSt('st mutated header bytes', b);
      }),
      { numRuns: RUNS },
    );
    fc.assert(fc.property(fc.string({ maxLength: 80 }), stData, (text, data) => checkSt('st random header text', stFile(text, data))), { numRuns: RUNS });
  });

  it('deep nesting up to 100000 levels', () => {
    const deep = (d: number, open: string, close: string, at: 'top' | 'meta' | 'shape') => {
      const nest = open.repeat(d) + close.repeat(d);
      if (at === 'top') return nest;
      if (at === 'meta') return `{"__metadata__":{"k":${nest}}}`;
      return `{"a":{"dtype":"F32","shape":${nest},"data_offsets":[0,0]}}`;
    };
    for (const d of [100_000, 10_000, 65, 64, 63]) {
      for (const [o, c] of [['[', ']'], ['{"a":', '}']]) {
        for (const at of ['top', 'meta', 'shape'] as const) checkSt('st deep nesting', stFile(deep(d, o, c, at), new Uint8Array(0)));
      }
    }
    const deepMsg = (() => { try { decodeSafetensors(stFile('['.repeat(100_000), new Uint8Array(0)), 'm.st'); } catch (e) { return (e as Error).message; } })();
    expect(deepMsg).toBe('m.st: header JSON nests deeper than 64 levels');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom('top', 'meta', 'shape') as fc.Arbitrary<'top' | 'meta' | 'shape'>, fc.boolean(), (d, at, arr) => {
        checkSt('st random deep nesting', stFile(arr ? deep(d, '[', ']', at) : deep(d, '{"a":', '}', at), new Uint8Array(0)));
      }),
      { numRuns: 300 },
    );
  });

  it('NaN and infinite weights anywhere', () => {
    // f32 bit patterns: ordinary floats, ±Inf, and NaNs with any payload and sign.
    const bits = fc.oneof(
      { weight: 12, arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true }).map((x) => new Uint32Array(new Float32Array([x]).buffer)[0]) },
      { weight: 1, arbitrary: fc.constantFrom(0x7f800000, 0xff800000) },
      { weight: 1, arbitrary: fc.integer({ min: 0x7f800001, max: 0x7fffffff }) },
      { weight: 1, arbitrary: fc.integer({ min: 0xff800001, max: 0xffffffff }) },
    );
    fc.assert(
      fc.property(fc.array(bits, { minLength: 1, maxLength: 16 }), (words) => {
        const a = new Float32Array(Uint32Array.from(words).buffer);
        const file = encodeSafetensors([{ name: 'w', shape: [a.length], data: a }], {});
        const r = check('st NaN/Inf weights', 'm.st', CheckpointError, () => decodeSafetensors(file, 'm.st'));
        expect(r !== undefined).toBe(a.every(Number.isFinite));
        if (r) expect(Array.from(new Uint32Array(r.tensors.get('w')!.data.buffer))).toEqual(words);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------- images

describe('fuzz images', () => {
  it('random and mutated PGM/PNG bytes', () => {
    const pgm = Uint8Array.from([...new TextEncoder().encode('P5 3 2 255\n'), 1, 2, 3, 4, 5, 6]);
    const starts = fc.constantFrom<number[]>([], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], [0x50, 0x35], [0x50, 0x32]);
    fc.assert(
      fc.property(starts, fc.uint8Array({ maxLength: 80 }), (s, rest) => {
        check('image random bytes', 'i', DataError, () => decodeImage(Uint8Array.from([...s, ...rest]), 'i'));
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: pgm.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat({ max: pgm.length }), (muts, cut) => {
        const b = Uint8Array.from(pgm.subarray(0, cut));
        for (const [i, v] of muts) if (i < b.length) b[i] = v;
        const img = check('image mutated PGM', 'i', DataError, () => decodeImage(b, 'i'));
        if (img) expect(img.pixels.length).toBe(img.rows * img.cols);
      }),
      { numRuns: RUNS },
    );
  });
});
