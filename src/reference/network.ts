// Float64 reference of a whole network (any spec: conv, maxpool, dropout and dense layers, softmax +
// cross-entropy): the oracle the WebAssembly Network is compared against. It composes the layers' twins
// (conv.ts, pool.ts, dropout.ts, and the dense product written out here) over the network's own flat parameter
// layout, and derives every gradient by hand, each layer's backward pass beside its forward one.
import { buildLayers, layoutParams } from '../model/network.js';
import { Conv } from '../model/conv.js';
import { Dense } from '../model/dense.js';
import { Dropout } from '../model/dropout.js';
import { MaxPool } from '../model/pool.js';
import type { Layer } from '../model/layer.js';
import { parseSpec, type Shape } from '../model/spec.js';
import { conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, convGeometry } from './conv.js';
import { maxpool2dBackward, maxpool2dForward, poolGeometry } from './pool.js';
import { dropoutBackward, dropoutForward, dropoutKeepScale, dropoutThreshold } from './dropout.js';
import { softmaxXent } from './kernels.js';

export interface ReferenceNet {
  layers: Layer[];
  /** Floats in the flat parameter buffer (the same layout as Network.paramView()). */
  paramCount: number;
}

/** The layers of spec on input → classes, with their parameters laid out as the Network lays them out. */
export function referenceNet(spec: string, input: Shape, classes: number): ReferenceNet {
  const layers = buildLayers(parseSpec(spec), input, classes);
  return { layers, paramCount: layoutParams(layers.filter((L) => L.weightCount > 0)) };
}

/** What dropout needs in training: the masks come from (seed, step, each row's sample index). */
export interface DropoutDraw {
  seed: number;
  step: number;
  idx: ArrayLike<number>;
}

export interface NetLossAndGrad {
  /** Mean cross-entropy over the batch. */
  loss: number;
  logits: Float64Array;
  /** Gradients in the parameter buffer's layout. */
  grads: Float64Array;
}

const geometryOf = (L: Conv) => convGeometry(L.inShape.h, L.inShape.w, L.inShape.c, L.outShape.c, L.size, L.stride, L.pad);
const poolOf = (L: MaxPool) => poolGeometry(L.inShape.h, L.inShape.w, L.inShape.c, L.size, L.stride);

/**
 * Loss and gradients of x[rows, input] (pixels already scaled, NHWC) with these labels; `drop` given: training
 * (dropout masks drawn as the kernels draw them), else evaluation.
 */
export function netLossAndGrad(
  net: ReferenceNet, params: ArrayLike<number>, x: ArrayLike<number>, labels: ArrayLike<number>, rows: number, drop?: DropoutDraw,
): NetLossAndGrad {
  const { layers } = net;
  const p = Float64Array.from(params);
  const weights = (L: Layer) => p.subarray(L.w, L.w + L.weightCount);
  const biases = (L: Layer) => p.subarray(L.b, L.b + L.biasCount);
  // acts[l] is layer l's input (acts[0] = x); aux[l] what its backward pass needs (argmax, dropout mask).
  const acts: Float64Array[] = [Float64Array.from(x)];
  const aux: Float64Array[] = [];
  for (const L of layers) {
    const a = acts[acts.length - 1];
    const y = new Float64Array(rows * L.outSize);
    const keep = new Float64Array(L instanceof MaxPool || L instanceof Dropout ? rows * L.outSize : 0);
    if (L instanceof Dense) {
      // y[rows, out] = a[rows, in] · W[in, out] + b, then ReLU (not on the output layer)
      const [w, b] = [weights(L), biases(L)];
      for (let r = 0; r < rows; r++) {
        for (let o = 0; o < L.fanOut; o++) {
          let s = b[o];
          for (let i = 0; i < L.fanIn; i++) s += a[r * L.fanIn + i] * w[i * L.fanOut + o];
          y[r * L.fanOut + o] = L.relu ? Math.max(s, 0) : s;
        }
      }
    } else if (L instanceof Conv) conv2dForward(geometryOf(L), rows, a, weights(L), biases(L), y, true);
    else if (L instanceof MaxPool) maxpool2dForward(poolOf(L), rows, a, y, keep);
    else if (L instanceof Dropout) {
      dropoutForward(y, drop ? keep : null, a, drop?.idx ?? [], rows, L.outSize, dropoutThreshold(L.p), dropoutKeepScale(L.p), drop?.seed ?? 0, drop?.step ?? 0);
    }
    acts.push(y);
    aux.push(keep);
  }
  const logits = acts[acts.length - 1];
  const classes = layers[layers.length - 1].outSize;
  let dy = new Float64Array(rows * classes);
  const { loss } = softmaxXent(logits, labels, rows, classes, dy);
  const grads = new Float64Array(net.paramCount);
  for (let l = layers.length - 1; l >= 0; l--) {
    const L = layers[l];
    const a = acts[l];
    // The gradient of layer l's input, through the ReLU that produced it (if the previous layer has one).
    const mask = l > 0 && layers[l - 1].relu ? a : null;
    const dx = new Float64Array(rows * L.inSize);
    if (L instanceof Dense) {
      // dW = aᵀ·dy, db = Σ_r dy, dx = dy·Wᵀ
      const w = weights(L);
      for (let r = 0; r < rows; r++) {
        for (let o = 0; o < L.fanOut; o++) {
          const d = dy[r * L.fanOut + o];
          grads[L.b + o] += d;
          for (let i = 0; i < L.fanIn; i++) {
            grads[L.w + i * L.fanOut + o] += a[r * L.fanIn + i] * d;
            dx[r * L.fanIn + i] += d * w[i * L.fanOut + o];
          }
        }
      }
      if (mask) for (let i = 0; i < dx.length; i++) if (!(mask[i] > 0)) dx[i] = 0;
    } else if (L instanceof Conv) {
      const g = geometryOf(L);
      conv2dBackwardWeight(g, rows, a, dy, grads.subarray(L.w, L.w + L.weightCount));
      conv2dBackwardBias(g, rows, dy, grads.subarray(L.b, L.b + L.biasCount));
      conv2dBackwardInput(g, rows, dy, weights(L), dx, mask);
    } else if (L instanceof MaxPool) maxpool2dBackward(poolOf(L), rows, dy, aux[l], dx, mask && acts[l + 1]); // masked where its maximum (its output) is not > 0
    else if (L instanceof Dropout) dropoutBackward(dx, dy, aux[l], rows * L.outSize, mask);
    dy = dx;
  }
  return { loss: loss / rows, logits, grads };
}
