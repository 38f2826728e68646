// ONNX export: a network given as its layer list (src/model/spec.ts) and PyTorch-layout tensors → the bytes of an
// ONNX model (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto) that ONNX Runtime, TensorRT and the rest run.
// Input `input` float32 [batch, C, H, W], pixel bytes / 255; outputs `logits` [batch, classes] and `probabilities`.
// Each layer kind has one rule (RULES); a kind without one is refused. Pure and browser-safe.
import { ExportError } from '../errors.js';
import { flat, formatSpec, planShapes, type LayerSpec, type Shape } from '../model/spec.js';
import { ProtoWriter } from './protobuf.js';

export interface ExportModel {
  /** Per-sample input { c, h, w } (MNIST: { c: 1, h: 28, w: 28 }). */
  input: Shape;
  /** The hidden layers (parseSpec(spec)); the output layer (dense to `classes`, no ReLU) is implied. */
  layers: LayerSpec[];
  classes: number;
  /**
   * PyTorch-layout tensors: layers.N.weight ([out, in, kh, kw] for conv, [out, in] for dense, where a dense layer
   * after a spatial one takes its input flattened in (channels, rows, cols) order) and layers.N.bias [out]; N counts
   * the layers that have parameters, in order (the output layer is the last N). Other names are ignored.
   */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  /** Strings for the model's metadata_props; `spec` and `classes` are added from the model unless given. */
  metadata: Record<string, string>;
}

/** ONNX's operator set 13 (ONNX 1.8, IR version 7) has every operator used here; ONNX Runtime runs it since 1.6. */
export const OPSET = 13;
const IR_VERSION = 7;
const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_INT = 2; // AttributeProto.AttributeType
const ATTR_INTS = 7;

type Attrs = Record<string, number | number[]>;

/** The graph as it is built: nodes in order, the value the next node reads, the initializers used so far. */
class Graph {
  readonly nodes: ProtoWriter[] = [];
  readonly initializers: ProtoWriter[] = [];
  /** The value the next layer reads. */
  x = 'input';
  /** Layers with parameters so far: the N of the next layers.N.weight. */
  params = 0;
  private flattened = false;

  constructor(private readonly tensors: ExportModel['tensors']) {}

  /** Appends a node reading `inputs` and writing `output`, which becomes the current value. */
  node(op: string, output: string, inputs: string[], attrs: Attrs = {}): void {
    const n = new ProtoWriter();
    for (const i of inputs) n.string(1, i);
    n.string(2, output).string(3, output).string(4, op);
    for (const [name, v] of Object.entries(attrs)) {
      const a = new ProtoWriter().string(1, name);
      if (typeof v === 'number') a.int(3, v).int(20, ATTR_INT);
      else a.ints(8, v).int(20, ATTR_INTS);
      n.message(5, a);
    }
    this.nodes.push(n);
    this.x = output;
  }

  /** The next layer's weight and bias (shape [weight[0]]), checked against the shapes `what` needs; returns their names. */
  weights(what: string, weight: number[]): [string, string] {
    const n = this.params++;
    return [this.initializer(`layers.${n}.weight`, weight, what), this.initializer(`layers.${n}.bias`, [weight[0]], what)];
  }

  private initializer(name: string, shape: number[], what: string): string {
    const t = this.tensors.get(name);
    if (!t) throw new ExportError(`missing tensor ${name} (${what} needs [${shape}])`);
    if (t.shape.join(',') !== shape.join(',')) throw new ExportError(`tensor ${name} has shape [${t.shape}], ${what} needs [${shape}]`);
    if (t.data.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new ExportError(`tensor ${name} has ${t.data.length} values for its shape [${shape}]`);
    }
    this.initializers.push(new ProtoWriter().ints(1, shape).int(2, FLOAT).string(8, name).bytes(9, littleEndian(t.data)));
    return name;
  }

  /** Gemm with a PyTorch [out, in] weight (transB), after a Flatten to [batch, C·H·W] before the first one. */
  dense(what: string, output: string, s: Shape, out: number): void {
    if (!this.flattened) this.node('Flatten', 'flatten', [this.x], { axis: 1 });
    this.flattened = true;
    this.node('Gemm', output, [this.x, ...this.weights(what, [out, flat(s)])], { transB: 1 });
  }
}

type Rule<K extends LayerSpec['kind']> = (L: Extract<LayerSpec, { kind: K }>, g: Graph, s: Shape, name: string) => void;

/** One rule per layer kind: `s` is the layer's input shape, `name` its prefix for value names (layer3.…). */
const RULES: { [K in LayerSpec['kind']]: Rule<K> } = {
  conv: (L, g, s, name) => {
    const [w, b] = g.weights(formatSpec([L]), [L.out, s.c, L.size, L.size]);
    // pads: [top, left, bottom, right]
    g.node('Conv', `${name}.conv`, [g.x, w, b], { kernel_shape: [L.size, L.size], strides: [L.stride, L.stride], pads: [L.pad, L.pad, L.pad, L.pad] });
    g.node('Relu', `${name}.relu`, [g.x]);
  },
  maxpool: (L, g, _s, name) => g.node('MaxPool', `${name}.maxpool`, [g.x], { kernel_shape: [L.size, L.size], strides: [L.stride, L.stride] }),
  dense: (L, g, s, name) => {
    g.dense(formatSpec([L]), `${name}.gemm`, s, L.units);
    g.node('Relu', `${name}.relu`, [g.x]);
  },
  dropout: () => {}, // the identity at inference
};

/** The ONNX model's bytes; throws ExportError for a layer kind without a rule or a tensor missing or misshapen. */
export function toOnnx(m: ExportModel): Uint8Array {
  const { input, layers, classes } = m;
  if (![input.c, input.h, input.w, classes].every((v) => Number.isSafeInteger(v) && v > 0)) {
    throw new ExportError(`input ${input.c}×${input.h}×${input.w} and ${classes} classes: each must be a positive whole number`);
  }
  layers.forEach((L, i) => {
    if (!Object.hasOwn(RULES, L.kind)) {
      throw new ExportError(`cannot export ${L.kind} (hidden layer ${i + 1}): ONNX export has rules for ${Object.keys(RULES).join(', ')}`);
    }
  });
  const shapes = [input, ...planShapes(layers, input, classes)];
  const g = new Graph(m.tensors);
  layers.forEach((L, i) => (RULES[L.kind] as Rule<typeof L.kind>)(L, g, shapes[i], `layer${i}`));
  g.dense(`the output layer (dense:${classes})`, 'logits', shapes[layers.length], classes);
  g.node('Softmax', 'probabilities', [g.x], { axis: 1 });
  for (const name of m.tensors.keys()) {
    const n = /^layers\.([0-9]+)\.(weight|bias)$/.exec(name)?.[1];
    if (n !== undefined && Number(n) >= g.params) {
      throw new ExportError(`tensor ${name} is not used: the model has ${g.params} layers with parameters (layers.0 to layers.${g.params - 1})`);
    }
  }

  const spec = formatSpec(layers);
  const graph = new ProtoWriter();
  for (const n of g.nodes) graph.message(1, n);
  graph.string(2, 'barenet');
  for (const t of g.initializers) graph.message(5, t);
  graph.message(11, valueInfo('input', ['batch', input.c, input.h, input.w]));
  graph.message(12, valueInfo('logits', ['batch', classes]));
  graph.message(12, valueInfo('probabilities', ['batch', classes]));

  const model = new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, 'barenet')
    .string(6, `barenet network ${spec ? spec + ' → ' : ''}${classes} classes. Input: float32 [batch, ${input.c}, ${input.h}, ${input.w}], pixel bytes / 255.`)
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').int(2, OPSET));
  for (const [key, value] of Object.entries({ spec, classes: String(classes), ...m.metadata })) {
    model.message(14, new ProtoWriter().string(1, key).string(2, value));
  }
  return model.finish();
}

/** A float32 tensor value's name and shape; a string dimension is symbolic. */
function valueInfo(name: string, dims: (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensor = new ProtoWriter().int(1, FLOAT).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensor));
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** raw_data: float32 little-endian (a view of the tensor itself on little-endian machines). */
function littleEndian(d: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  const b = new Uint8Array(4 * d.length);
  const view = new DataView(b.buffer);
  d.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return b;
}
