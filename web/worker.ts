// The training worker: owns the dataset and the Trainer, so the page never freezes. Training yields to
// the event loop every few batches, which is when pause/stop messages get through.
import {
  Engine,
  Trainer,
  checkFitsData,
  datasetFromBlobs,
  datasetFromUrls,
  decodeCheckpoint,
  modelFromCheckpoint,
  type Dataset,
  type TrainConfig,
} from 'barenet';
import { errorMessage } from './messages';
import type { FromWorker, Misclassified, ToWorker } from './protocol';
import { TrainingSpeed } from './speed';

let data: Dataset | null = null;
let control: 'run' | 'pause' | 'stop' = 'run';
let wake: (() => void) | null = null;
/** Read through a call: messages change `control` while training awaits. */
const controlNow = () => control;

const post = (msg: FromWorker, transfer: Transferable[] = []) => postMessage(msg, { transfer });

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  try {
    switch (msg.type) {
      case 'mnist':
        setData(await datasetFromUrls(new URL(msg.base, self.location.href), { val: 0, name: 'MNIST', classes: msg.classes }));
        break;
      case 'files':
        setData(await datasetFromBlobs(msg.files, { val: 0, classes: msg.classes }));
        break;
      case 'train':
        control = 'run'; // before any await: a stop or pause sent while the trainer is set up still counts
        await train(msg.config, msg.subset, msg.bench ?? false);
        break;
      case 'pause':
      case 'stop':
        control = msg.type;
        if (msg.type === 'stop') wake?.();
        break;
      case 'resume':
        control = 'run';
        wake?.();
        break;
      case 'evaluate':
        await evaluate(msg.model, msg.maxWrong);
        break;
    }
  } catch (err) {
    post({ type: 'error', message: errorMessage(err), stage: msg.type });
  }
};

function setData(d: Dataset): void {
  data = d;
  post({ type: 'data', info: { name: d.name, rows: d.rows, cols: d.cols, channels: d.channels, classes: d.classes, train: d.train.count, test: d.test.count } });
}

function needData(): Dataset {
  if (!data) throw new Error('no data loaded yet');
  return data;
}

async function train(config: TrainConfig, subset: number, bench: boolean): Promise<void> {
  const d = needData();
  const n = Math.max(1, Math.min(subset, d.train.count));
  const train = { images: d.train.images.subarray(0, n * d.dim), labels: d.train.labels.subarray(0, n), count: n };
  const t = await Trainer.create({ ...d, train, val: null }, config);
  const speed = new TrainingSpeed(n, config.batch);
  try {
    for (;;) {
      speed.start(t.batchInEpoch);
      const result = await t.run({
        batchEvery: bench ? 100 : 10,
        yieldEvery: bench ? 0 : 25,
        shouldStop: () => {
          if (controlNow() === 'run') return false;
          speed.halt(t.batchInEpoch);
          return true;
        },
        onBatch: (p) => post({ type: 'batch', p, epochs: config.epochs, batchSize: config.batch }),
        onEpoch: (m, tr) => {
          speed.epoch(m.epoch_seconds);
          const model = tr.encodeBest();
          post({ type: 'epoch', m, model }, [model.buffer]);
        },
      });
      if (result.reason === 'interrupted' && controlNow() === 'pause') {
        post({ type: 'paused' });
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        if (controlNow() === 'run') continue;
      }
      const model = result.reason === 'interrupted' ? t.encodeCurrent() : t.encodeBest();
      const end = { reason: result.reason, epochs: t.epoch, batchInEpoch: t.batchInEpoch, batches: t.batchesPerEpoch, trainCount: n };
      const rate = { samples: speed.samples, samplesPerSecond: speed.perSecond, threads: t.model.eng.threads, build: t.config.build };
      post({ type: 'done', model, ...end, ...rate }, [model.buffer]);
      return;
    }
  } finally {
    t.close();
  }
}

async function evaluate(bytes: Uint8Array, maxWrong: number): Promise<void> {
  const d = needData();
  const ck = decodeCheckpoint(bytes, 'model');
  checkFitsData(ck.info, d, 'model');
  const model = modelFromCheckpoint(await Engine.load(), ck, 'model');
  const ev = model.evaluate(model.upload(d.test.images, d.test.labels, d.test.count));
  const probs = model.predict(d.test.images);
  const C = d.classes;
  const wrong: Misclassified[] = [];
  for (let i = 0; i < d.test.count && wrong.length < maxWrong; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (probs[i * C + c] > probs[i * C + best]) best = c;
    const label = d.test.labels[i];
    if (best !== label) wrong.push({ index: i, label, predicted: best, pixels: grey(d.test.images.subarray(i * d.dim, (i + 1) * d.dim), d.channels) });
  }
  post({ type: 'evaluation', accuracy: ev.accuracy, loss: ev.loss, classes: C, confusion: ev.confusion, wrong, rows: d.rows, cols: d.cols });
}

/** One grey image from a pixel-major image of `channels` channels (their mean), for the misclassified grid. */
function grey(pixels: Uint8Array, channels: number): Uint8Array {
  if (channels === 1) return pixels.slice();
  return Uint8Array.from({ length: pixels.length / channels }, (_, i) => {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += pixels[i * channels + c];
    return Math.round(sum / channels);
  });
}
