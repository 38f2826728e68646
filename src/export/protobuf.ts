// A protocol-buffers writer for the few fields ONNX export needs: varints, bytes, strings and nested
// messages (https://protobuf.dev/programming-guides/encoding/). A message is a list of byte chunks:
// nesting appends the child's chunks after its length, so a megabyte of weights is copied once, in finish().
// Pure and browser-safe.

const utf8 = new TextEncoder();

export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  /** Bytes written so far: a nested message's length prefix. */
  length = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  /** Field key: field number and wire type (0 varint, 2 length-delimited). */
  private key(field: number, wire: number): void {
    this.push(varint(field * 8 + wire));
  }

  /** An int32/int64/enum field with a value ≥ 0 (barenet writes no negative integers). */
  int(field: number, v: number): this {
    this.key(field, 0);
    this.push(varint(v));
    return this;
  }

  /** A repeated int64 field, unpacked (one key per value), as proto2 declares ONNX's `ints` and `dims`. */
  ints(field: number, vs: readonly number[]): this {
    for (const v of vs) this.int(field, v);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2);
    this.push(varint(b.length));
    this.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  /** A nested message; `m` is taken over (its chunks become this message's). */
  message(field: number, m: ProtoWriter): this {
    this.key(field, 2);
    this.push(varint(m.length));
    for (const c of m.chunks) this.push(c);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let p = 0;
    for (const c of this.chunks) {
      out.set(c, p);
      p += c.length;
    }
    return out;
  }
}

/** Base-128 varint, low group first. Only non-negative safe integers: a negative int64 would take ten bytes. */
export function varint(v: number): Uint8Array {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`protobuf varint: ${v} is not a non-negative safe integer`);
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}
