// safetensors encode/decode (checked byte by byte against the format) and the checkpoint file helpers.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../src/errors.js';
import { decodeSafetensors, encodeSafetensors } from '../src/checkpoint/safetensors.js';
import { ensureWritableDir, readCheckpointFile, writeFileAtomic } from '../src/checkpoint/files.js';

const tmp = mkdtempSync(join(tmpdir(), 'barenet-st-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A file with the given header JSON (padded to 8) and data bytes. */
function raw(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  let json = typeof header === 'string' ? header : JSON.stringify(header);
  while (json.length % 8) json += ' ';
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const f32bytes = (xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);

function ckError(bytes: Uint8Array): string {
  try {
    decodeSafetensors(bytes, 'm.st');
  } catch (err) {
    expect(err).toBeInstanceOf(CheckpointError);
    const msg = (err as Error).message;
    expect(msg).not.toContain('\n');
    expect(msg.startsWith('m.st: ')).toBe(true);
    return msg;
  }
  throw new Error('expected a CheckpointError');
}

describe('encodeSafetensors', () => {
  it('writes the exact bytes the format specifies', () => {
    const bytes = encodeSafetensors(
      [
        { name: 'w', shape: [2], data: new Float32Array([1, -2]) },
        { name: 'b', shape: [], data: new Float32Array([0.5]) },
      ],
      { k: 'v' },
    );
    const json = '{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[],"data_offsets":[8,12]}}';
    const n = Math.ceil(json.length / 8) * 8;
    expect(json.length).toBe(132);
    expect(n).toBe(136);
    // u64 little-endian header length
    expect(Array.from(bytes.subarray(0, 8))).toEqual([136, 0, 0, 0, 0, 0, 0, 0]);
    // the JSON, then spaces up to a multiple of 8
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + n))).toBe(json + '    ');
    // raw little-endian f32: 1 = 00 00 80 3f, -2 = 00 00 00 c0, 0.5 = 00 00 00 3f
    expect(Array.from(bytes.subarray(8 + n))).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0, 0x3f]);
    expect(bytes.length).toBe(8 + 136 + 12);
  });

  it('round-trips shapes, values (bit-exact) and metadata', () => {
    const vals = new Float32Array([0, -0, 1.5, -3.25e-38, 3.4028234663852886e38, 1e-45, Math.PI]);
    const tensors = [
      { name: 'layers.0.weight', shape: [7, 1], data: vals },
      { name: 'empty', shape: [0, 3], data: new Float32Array(0) },
      { name: 'layers.0.bias', shape: [3], data: new Float32Array([1, 2, 3]) },
      { name: 'odd', shape: [5], data: new Float32Array(6).subarray(1) },
    ];
    const meta = { format: 'barenet/1', __proto__x: 'y', '': 'empty key', 'ünï': 'cödé\n' };
    const out = decodeSafetensors(encodeSafetensors(tensors, meta), 'x');
    expect(out.metadata).toEqual(meta);
    expect([...out.tensors.keys()].sort()).toEqual(tensors.map((t) => t.name).sort());
    for (const t of tensors) {
      const got = out.tensors.get(t.name)!;
      expect(got.shape).toEqual(t.shape);
      expect(new Uint8Array(got.data.buffer)).toEqual(new Uint8Array(t.data.slice().buffer));
    }
  });

  it('copies data out of an unaligned buffer', () => {
    const bytes = encodeSafetensors([{ name: 'a', shape: [2], data: new Float32Array([7, 8]) }], {});
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const got = decodeSafetensors(shifted.subarray(1), 'x').tensors.get('a')!;
    expect(Array.from(got.data)).toEqual([7, 8]);
    expect(got.data.buffer).not.toBe(shifted.buffer);
  });

  it('writes a tensor given as a function into the same bytes as the array', () => {
    const values = Float32Array.from({ length: 15 }, (_, i) => i * 0.25 - 1);
    const arrays = encodeSafetensors([{ name: 'b', shape: [3], data: values.subarray(0, 3) }, { name: 'w', shape: [3, 5], data: values }], { k: 'v' });
    const lengths: number[] = [];
    const written = encodeSafetensors(
      [
        { name: 'b', shape: [3], data: values.subarray(0, 3) },
        { name: 'w', shape: [3, 5], data: (dst) => (lengths.push(dst.length), dst.set(values)) },
      ],
      { k: 'v' },
    );
    expect(lengths).toEqual([15]);
    expect(Buffer.from(written).equals(Buffer.from(arrays))).toBe(true);
  });

  it('refuses inconsistent input (a bug in the caller)', () => {
    expect(() => encodeSafetensors([{ name: 'a', shape: [3], data: new Float32Array(2) }], {})).toThrow(RangeError);
    const t = { name: 'a', shape: [1], data: new Float32Array(1) };
    expect(() => encodeSafetensors([t, t], {})).toThrow(/duplicate/);
  });
});

describe('decodeSafetensors rejects', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const data = f32bytes([1, 2]);

  it('short files and impossible header lengths', () => {
    expect(ckError(new Uint8Array(5))).toMatch(/truncated: 5 bytes/);
    const big = new Uint8Array(16);
    new DataView(big.buffer).setUint32(0, 9, true);
    expect(ckError(big)).toBe('m.st: truncated: header length 9 but only 8 bytes follow');
    new DataView(big.buffer).setUint32(4, 1, true);
    expect(ckError(big)).toMatch(/header length 4294967305 is over the 100000000-byte limit/);
    new DataView(big.buffer).setUint32(4, 0, true);
    new DataView(big.buffer).setUint32(0, 200_000_000, true);
    expect(ckError(big)).toMatch(/over the 100000000-byte limit/);
  });

  it('non-JSON, non-UTF-8, non-object and deeply nested headers', () => {
    expect(ckError(raw('{"a": '))).toMatch(/^m\.st: header is not valid JSON \(/);
    expect(ckError(raw(''))).toMatch(/not valid JSON/);
    // Found by the fuzzer: V8 quotes a snippet of the text, here with a carriage return in it.
    expect(ckError(raw('{"__metadata__":\r},"a":{}}'))).toMatch(/^m\.st: header is not valid JSON \(.*\\u000d/);
    expect(ckError(raw('{"a\u2028":\n]'))).toMatch(/not valid JSON/);
    const bad = raw('{"a":1}');
    bad[10] = 0xff;
    expect(ckError(bad)).toBe('m.st: header is not valid UTF-8');
    expect(ckError(raw('[1,2]'))).toBe('m.st: header JSON is not an object');
    expect(ckError(raw('null'))).toBe('m.st: header JSON is not an object');
    expect(ckError(raw('['.repeat(100_000)))).toBe('m.st: header JSON nests deeper than 64 levels');
    expect(ckError(raw({ a: JSON.parse('['.repeat(65) + ']'.repeat(65)) }))).toMatch(/nests deeper/);
    // brackets inside strings do not count
    const deepString = raw({ __metadata__: { k: '['.repeat(1000) + '"\\' }, ...ok }, data);
    expect(decodeSafetensors(deepString, 'x').metadata.k).toBe('['.repeat(1000) + '"\\');
  });

  it('bad metadata', () => {
    expect(ckError(raw({ __metadata__: { k: 1 } }))).toBe('m.st: __metadata__ value k is not a string');
    expect(ckError(raw({ __metadata__: [] }))).toBe('m.st: __metadata__ is not an object');
    const proto = decodeSafetensors(raw('{"__metadata__":{"__proto__":"x"}}'), 'x').metadata;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(['__proto__']);
  });

  it('dtypes other than F32', () => {
    expect(ckError(raw({ 'layers.0.weight': { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, data))).toBe(
      'm.st: tensor layers.0.weight has dtype F16; barenet reads F32 only',
    );
    for (const dtype of ['F64', 'BF16', 'I32', 'U8', 'f32', 7, null]) {
      expect(ckError(raw({ a: { ...ok.a, dtype } }, data))).toMatch(/^m\.st: tensor a has dtype .*; barenet reads F32 only$/);
    }
    expect(ckError(raw({ a: { shape: [2], data_offsets: [0, 8] } }, data))).toMatch(/dtype undefined/);
  });

  it('bad shapes', () => {
    for (const shape of [[-1], [1.5], ['2'], 2, null, [2 ** 53]]) {
      expect(ckError(raw({ a: { ...ok.a, shape } }, data))).toMatch(/tensor a has a shape that is not a list of non-negative integers/);
    }
    expect(ckError(raw({ a: { ...ok.a, shape: [3] } }, data))).toBe('m.st: tensor a has 8 bytes but shape [3] needs 12');
    expect(ckError(raw({ a: { ...ok.a, shape: [2 ** 26, 2 ** 26, 2 ** 26] } }, data))).toMatch(/needs 1208925819614629174706176/);
    expect(ckError(raw('{"a":7}'))).toBe('m.st: tensor a is not an object');
  });

  it('bad, out-of-range and overlapping offsets', () => {
    for (const data_offsets of [[-4, 4], [0], [0, 8, 16], [0, 8.5], '0,8', [0, null]]) {
      expect(ckError(raw({ a: { ...ok.a, data_offsets } }, data))).toMatch(/tensor a has data_offsets that are not two non-negative integers/);
    }
    expect(ckError(raw({ a: { ...ok.a, data_offsets: [8, 0] } }, data))).toBe('m.st: tensor a has data_offsets [8, 0] with begin after end');
    expect(ckError(raw({ a: { ...ok.a, data_offsets: [4, 12] } }, data))).toBe(
      'm.st: truncated: tensor a ends at byte 12 of the data but the file has 8',
    );
    expect(ckError(raw({ a: { ...ok.a, data_offsets: [0, 2 ** 60] } }, data))).toMatch(/not two non-negative integers/);
    const two = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    expect(ckError(raw(two, f32bytes([1, 2, 3])))).toBe('m.st: tensor a and tensor b overlap in the data');
    const same = { a: ok.a, b: ok.a };
    expect(ckError(raw(same, data))).toMatch(/overlap/);
    // adjacent and zero-length tensors are fine
    const adj = { b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] }, a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, z: { dtype: 'F32', shape: [0], data_offsets: [8, 8] } };
    const d = decodeSafetensors(raw(adj, data), 'x');
    expect([d.tensors.get('a')!.data[0], d.tensors.get('b')!.data[0], d.tensors.get('z')!.data.length]).toEqual([1, 2, 0]);
  });

  it('NaN and infinite values, naming the tensor', () => {
    for (const v of [NaN, Infinity, -Infinity]) {
      expect(ckError(raw({ 'fc.bias': { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32bytes([0, v])))).toBe(
        `m.st: tensor fc.bias holds a non-finite value (${v}) at index 1`,
      );
    }
  });

  it('keeps messages one line and short for hostile names', () => {
    const name = 'x\n'.repeat(1000);
    const msg = ckError(raw({ [name]: { dtype: 'F16', shape: [], data_offsets: [0, 4] } }, f32bytes([0])));
    expect(msg.length).toBeLessThan(200);
  });
});

describe('checkpoint files', () => {
  it('writeFileAtomic writes, replaces, and leaves no temp file', async () => {
    const p = join(tmp, 'a.safetensors');
    await writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    expect(Array.from(readFileSync(p))).toEqual([1, 2, 3]);
    await writeFileAtomic(p, new Uint8Array([4]));
    expect(Array.from(await readCheckpointFile(p))).toEqual([4]);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('writeFileAtomic fails with a CheckpointError naming the path, and cleans up', async () => {
    const dirTarget = join(tmp, 'is-a-dir');
    mkdirSync(join(dirTarget, 'inside'), { recursive: true });
    await expect(writeFileAtomic(dirTarget, new Uint8Array(1))).rejects.toThrow(CheckpointError);
    await expect(writeFileAtomic(dirTarget, new Uint8Array(1))).rejects.toThrow(`${dirTarget}: cannot write checkpoint: `);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const noDir = join(tmp, 'no', 'such', 'x.st');
    await expect(writeFileAtomic(noDir, new Uint8Array(1))).rejects.toThrow(`${noDir}: cannot write checkpoint: no such file or directory`);
  });

  it('readCheckpointFile names a missing file', async () => {
    const p = join(tmp, 'missing.st');
    await expect(readCheckpointFile(p)).rejects.toThrow(new CheckpointError(`${p}: no such checkpoint file`));
    await expect(readCheckpointFile(tmp)).rejects.toThrow(`${tmp}: cannot read checkpoint: is a directory`);
  });

  it('ensureWritableDir creates directories and reports a file in the way', async () => {
    const d = join(tmp, 'runs', 'deep', 'er');
    await ensureWritableDir(d);
    expect(existsSync(d)).toBe(true);
    expect(readdirSync(d)).toEqual([]); // the probe is gone
    await ensureWritableDir(d); // again: fine
    const f = join(tmp, 'plain-file');
    writeFileSync(f, 'x');
    await expect(ensureWritableDir(f)).rejects.toThrow(new CheckpointError(`${f}: cannot create checkpoint directory: a file is in the way of the directory`));
    await expect(ensureWritableDir(join(f, 'sub'))).rejects.toThrow(CheckpointError);
  });
});
