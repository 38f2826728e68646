// barenet's WebAssembly module: kernels taking pointers into linear memory, grouped by family.
export * from './gemm';
export * from './activations';
export * from './loss';
export * from './optim';
export * from './data';
export * from './conv';
export * from './pool';
export * from './dropout';

/** First free byte above static data; the host allocates from here. */
export function heap_base(): usize {
  return __heap_base;
}
