// Float64 reference of the whole network: the oracle the WebAssembly model is compared against.
// An MLP: for each layer l, Z_l = A_{l−1}·W_l + b_l with W_l stored [fanIn, fanOut] row-major;
// A_l = ReLU(Z_l) after every hidden layer; the last Z is the logits; loss = mean over the batch of
// softmax cross-entropy. Backprop is derived by hand, written next to the forward pass it undoes.
import { Rng } from '../rng.js';
import { softmaxXent } from './kernels.js';

export interface Layer {
  /** [fanIn, fanOut] row-major. */
  w: Float64Array;
  /** [fanOut]. */
  b: Float64Array;
  fanIn: number;
  fanOut: number;
}

/** One entry per layer, input to output. Gradients have the same layout. */
export type Params = Layer[];

export interface Forward {
  /** Z of the last layer: [batch, classes]. */
  logits: Float64Array;
  /** acts[0] = x, acts[l] = A_l for l = 1..L (acts[L] = logits, no ReLU). Each [batch, fanOut]. */
  acts: Float64Array[];
  /** pre[l−1] = Z_l, the pre-activation of layer l. */
  pre: Float64Array[];
}

export interface LossAndGrad {
  /** Mean cross-entropy over the batch. */
  loss: number;
  /** Rows whose argmax equals the label. */
  correct: number;
  grads: Params;
  logits: Float64Array;
}

/** Zeroed layers for the sizes [input, hidden…, classes]. */
export function zeroParams(sizes: readonly number[]): Params {
  const params: Params = [];
  for (let l = 1; l < sizes.length; l++) {
    const fanIn = sizes[l - 1];
    const fanOut = sizes[l];
    params.push({ w: new Float64Array(fanIn * fanOut), b: new Float64Array(fanOut), fanIn, fanOut });
  }
  return params;
}

/** Layers with every weight and bias uniform in ±1/sqrt(fanIn) (PyTorch Linear's default), for tests. */
export function randomParams(sizes: readonly number[], rng: Rng): Params {
  const params = zeroParams(sizes);
  for (const layer of params) {
    const bound = 1 / Math.sqrt(layer.fanIn);
    for (let i = 0; i < layer.w.length; i++) layer.w[i] = bound * (2 * rng.nextFloat() - 1);
    for (let i = 0; i < layer.b.length; i++) layer.b[i] = bound * (2 * rng.nextFloat() - 1);
  }
  return params;
}

/** x[batch, fanIn of layer 1] → logits, keeping every layer's activations for the backward pass. */
export function forward(params: Params, x: ArrayLike<number>, batch: number): Forward {
  const acts = [Float64Array.from(x)];
  const pre: Float64Array[] = [];
  if (acts[0].length !== batch * params[0].fanIn) throw new RangeError(`x has ${acts[0].length} values, not ${batch}×${params[0].fanIn}`);
  params.forEach((layer, l) => {
    const { w, b, fanIn, fanOut } = layer;
    const a = acts[l];
    // Z[batch,fanOut] = A[batch,fanIn] · W[fanIn,fanOut] + b[fanOut]
    const z = new Float64Array(batch * fanOut);
    for (let r = 0; r < batch; r++) {
      for (let j = 0; j < fanOut; j++) {
        let s = b[j];
        for (let i = 0; i < fanIn; i++) s += a[r * fanIn + i] * w[i * fanOut + j];
        z[r * fanOut + j] = s;
      }
    }
    pre.push(z);
    // A = ReLU(Z) on hidden layers; the last layer's Z is the logits
    acts.push(l < params.length - 1 ? z.map((v) => (v > 0 ? v : 0)) : z);
  });
  return { logits: acts[acts.length - 1], acts, pre };
}

/** Mean softmax cross-entropy of the batch and its gradient with respect to every weight and bias. */
export function lossAndGrad(params: Params, x: ArrayLike<number>, labels: ArrayLike<number>, batch: number): LossAndGrad {
  const { logits, acts, pre } = forward(params, x, batch);
  const L = params.length;
  const classes = params[L - 1].fanOut;
  // dZ_L[batch,classes] = (softmax(Z_L) − onehot)/batch
  let dz = new Float64Array(batch * classes);
  const { loss, correct } = softmaxXent(logits, labels, batch, classes, dz);
  const grads = zeroParams([params[0].fanIn, ...params.map((p) => p.fanOut)]);
  for (let l = L - 1; l >= 0; l--) {
    const { w, fanIn, fanOut } = params[l];
    const a = acts[l];
    const g = grads[l];
    // dW[fanIn,fanOut] = A_{l−1}ᵀ[fanIn,batch] · dZ[batch,fanOut];  db[fanOut] = Σ_r dZ[r,:]
    for (let r = 0; r < batch; r++) {
      for (let j = 0; j < fanOut; j++) {
        const d = dz[r * fanOut + j];
        g.b[j] += d;
        for (let i = 0; i < fanIn; i++) g.w[i * fanOut + j] += a[r * fanIn + i] * d;
      }
    }
    if (l === 0) break;
    // dA_{l−1}[batch,fanIn] = dZ[batch,fanOut] · Wᵀ[fanOut,fanIn];  dZ_{l−1} = dA_{l−1} where Z_{l−1} > 0, else 0
    const zPrev = pre[l - 1];
    const dPrev = new Float64Array(batch * fanIn);
    for (let r = 0; r < batch; r++) {
      for (let i = 0; i < fanIn; i++) {
        if (!(zPrev[r * fanIn + i] > 0)) continue;
        let s = 0;
        for (let j = 0; j < fanOut; j++) s += dz[r * fanOut + j] * w[i * fanOut + j];
        dPrev[r * fanIn + i] = s;
      }
    }
    dz = dPrev;
  }
  return { loss: loss / batch, correct, grads, logits };
}
