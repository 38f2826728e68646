// The optimizer's settings and its step on a range of the parameter buffer: one kernel call per range, over
// the flat parameter, gradient and state buffers (all of the same layout), as llm.c's update does.
import type { OpList } from '../wasm/pool.js';

export type OptimizerKind = 'sgd' | 'momentum' | 'adam';

export interface OptimizerConfig {
  kind: OptimizerKind;
  lr: number;
  /** Momentum coefficient (momentum) or beta1 (adam). */
  momentum: number;
  nesterov: boolean;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const defaultOptimizer: OptimizerConfig = {
  kind: 'sgd',
  lr: 0.1,
  momentum: 0.9,
  nesterov: false,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
};

/** Addresses of the flat buffers an optimizer step reads and writes (0 where the optimizer keeps no such state). */
export interface ParamBuffers {
  params: number;
  grads: number;
  /** Momentum velocity, or Adam's first moment. */
  state1: number;
  /** Adam's second moment. */
  state2: number;
}

/** The optimizer step on parameters [offset, offset + n); `step` is the 1-based count Adam's bias correction uses. */
export function optimizerOps(ops: OpList, o: OptimizerConfig, buf: ParamBuffers, offset: number, n: number, lr: number, step: number): void {
  const [p, g, s1, s2] = [buf.params, buf.grads, buf.state1, buf.state2].map((ptr) => ptr + 4 * offset);
  if (o.kind === 'sgd') ops.push('sgd_step', p, g, n, lr, o.weightDecay);
  else if (o.kind === 'momentum') ops.push('momentum_step', p, g, s1, n, lr, o.momentum, o.weightDecay, o.nesterov ? 1 : 0);
  else ops.push('adam_step', p, g, s1, s2, n, lr, o.momentum, o.beta2, o.eps, o.weightDecay, step);
}
