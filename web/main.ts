// The page: wires the DOM to the training worker (worker.ts) and to the current model (predictor.ts).
// State a test can read: body[data-state], body[data-model-sha256], #test-accuracy[data-value],
// #prediction[data-probs]. `?bench=b1` trains B1 for one epoch on all of MNIST and shows samples/s.
import { defaultConfig, grayFromRgba, preprocessDigit, type EpochMetrics, type OptimizerKind, type ScheduleKind, type TrainConfig } from 'barenet';
import type { DataInfo, FromWorker, ToWorker } from './protocol';
import { Predictor } from './predictor';
import { DrawingPad } from './pad';
import { drawChart, type Series } from './plot';
import { loadLastModel, saveLastModel } from './store';
import { drawGray, renderConfusion, renderImageGrid, renderProbabilities } from './views';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const MNIST_BASE = './data/';
const B1: Partial<TrainConfig> = { hidden: [256, 128], epochs: 1, batch: 64, lr: 0.1, optimizer: 'sgd', schedule: 'none', seed: 1 };

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (msg: ToWorker) => worker.postMessage(msg);
const bench = new URLSearchParams(location.search).get('bench');

let data: DataInfo | null = null;
let current: Predictor | null = null;
let modelQueue: Promise<void> = Promise.resolve();

function setState(state: string, status?: string): void {
  document.body.dataset.state = state;
  if (status !== undefined) $('status').textContent = status;
  const training = state === 'training' || state === 'paused';
  $<HTMLButtonElement>('start').disabled = training || !data;
  $<HTMLButtonElement>('pause').disabled = !training;
  $<HTMLButtonElement>('pause').textContent = state === 'paused' ? 'Resume' : 'Pause';
  $<HTMLButtonElement>('stop').disabled = !training;
  $<HTMLButtonElement>('eval').disabled = training || !data || !current;
}

// ---- The current model: replaced only by bytes that decode and fit the data.

function showModelError(message: string | null): void {
  $('model-error').hidden = message === null;
  $('model-error').textContent = message ?? '';
}

/** Makes `bytes` the current model; on any error shows it and keeps the model there was. Serialised. */
function setModel(bytes: Uint8Array, name: string, remember = true): Promise<boolean> {
  const done = modelQueue.then(async () => {
    try {
      current = await Predictor.load(bytes, name, data);
    } catch (err) {
      showModelError(`Could not load ${name}: ${err instanceof Error ? err.message : String(err)}. The current model is unchanged.`);
      return false;
    }
    showModelError(null);
    $('model-info').textContent = `${name}: ${current.description}. SHA-256 of the parameters ${current.sha256.slice(0, 16)}…`;
    document.body.dataset.modelSha256 = current.sha256;
    $<HTMLButtonElement>('save').disabled = false;
    setState(document.body.dataset.state!);
    updatePrediction();
    if (remember) saveLastModel({ name, bytes }).catch(() => {});
    return true;
  });
  modelQueue = done.then(() => {});
  return done;
}

// ---- Training progress and charts.

const batchLoss: Series = { label: 'batch loss', color: '#9bc', points: [], width: 1 };
const epochLoss: Series = { label: 'train loss (epoch)', color: '#137', points: [], dots: true };
const testLoss: Series = { label: 'test loss', color: '#c63', points: [], dots: true };
const testAcc: Series = { label: 'test accuracy', color: '#2a7', points: [], dots: true };
let chartPending = false;

function redrawCharts(): void {
  if (chartPending) return;
  chartPending = true;
  requestAnimationFrame(() => {
    chartPending = false;
    drawChart($<HTMLCanvasElement>('loss-chart'), [batchLoss, epochLoss, testLoss], { xLabel: 'epoch', yMin: 0 });
    drawChart($<HTMLCanvasElement>('acc-chart'), [testAcc], { xLabel: 'epoch', ...accuracyRange(testAcc) });
  });
}

/** Accuracy axes end at 1 and start a little below the lowest value. */
function accuracyRange(...series: Series[]): { yMin: number; yMax: number } {
  const low = Math.min(1, ...series.flatMap((s) => s.points.map((p) => p.y)));
  return { yMin: Math.max(0, Math.floor((low - 0.02) * 20) / 20), yMax: 1 };
}

const seconds = (s: number) => (s < 90 ? `${s.toFixed(0)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);

function readConfig(): TrainConfig {
  const num = (id: string) => Number(input(id).value);
  const hidden = input('layers').value.split(/[\s,-]+/).filter(Boolean).map(Number);
  if (hidden.some((h) => !Number.isInteger(h) || h < 1)) throw new Error('hidden layers: positive integers separated by commas, e.g. 256,128');
  const config: TrainConfig = {
    ...defaultConfig,
    hidden,
    epochs: num('epochs'),
    batch: num('batch'),
    lr: num('lr'),
    optimizer: $<HTMLSelectElement>('optimizer').value as OptimizerKind,
    schedule: $<HTMLSelectElement>('schedule').value as ScheduleKind,
    seed: num('seed'),
  };
  for (const k of ['epochs', 'batch', 'seed'] as const) {
    if (!Number.isInteger(config[k]) || config[k] < (k === 'seed' ? 0 : 1)) throw new Error(`${k}: a whole number is needed`);
  }
  if (!(config.lr > 0)) throw new Error('learning rate: a positive number is needed');
  return config;
}

function startTraining(config: TrainConfig, subset: number, isBench = false): void {
  for (const s of [batchLoss, epochLoss, testLoss, testAcc]) s.points = [];
  redrawCharts();
  setState('training', isBench ? 'Benchmarking B1…' : 'Training…');
  send({ type: 'train', config, subset, bench: isBench });
}

function onEpoch(m: EpochMetrics, model: Uint8Array): void {
  epochLoss.points.push({ x: m.epoch, y: m.train_loss });
  testLoss.points.push({ x: m.epoch, y: m.test_loss });
  testAcc.points.push({ x: m.epoch, y: m.test_accuracy });
  redrawCharts();
  void setModel(model, `epoch ${m.epoch}`, false);
}

// ---- Messages from the worker.

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const msg = e.data;
  switch (msg.type) {
    case 'data':
      data = msg.info;
      $('data-info').textContent = `${data.name}: ${data.train.toLocaleString('en')} training and ${data.test.toLocaleString('en')} test images of ${data.rows}×${data.cols}, ${data.classes} classes.`;
      input('subset').value = String(data.train);
      setState('ready', 'Ready.');
      if (bench === 'b1') startTraining({ ...defaultConfig, ...B1 }, data.train, true);
      break;
    case 'batch': {
      const { p, epochs, batchSize } = msg;
      batchLoss.points.push({ x: p.epoch - 1 + p.batch / p.batches, y: p.loss });
      const left = ((epochs - p.epoch) * p.batches + p.batches - p.batch) * batchSize;
      const eta = p.samplesPerSecond > 0 ? seconds(left / p.samplesPerSecond) : '–';
      $('progress').textContent = `epoch ${p.epoch}/${epochs}, batch ${p.batch}/${p.batches}, loss ${p.loss.toFixed(4)}, ${Math.round(p.samplesPerSecond).toLocaleString('en')} samples/s, ETA ${eta}`;
      redrawCharts();
      break;
    }
    case 'epoch':
      onEpoch(msg.m, msg.model);
      break;
    case 'paused':
      setState('paused', 'Paused.');
      break;
    case 'done': {
      const sps = Math.round(msg.samplesPerSecond);
      setState('done', `Training ${msg.reason}: ${sps.toLocaleString('en')} samples/s on ${msg.trainCount.toLocaleString('en')} images, ${msg.threads} thread${msg.threads > 1 ? 's' : ''}, ${msg.build} build.`);
      if (bench) {
        $('bench').hidden = false;
        $('bench').dataset.samplesPerSecond = String(msg.samplesPerSecond);
        $('bench').textContent = `B1 (784-256-128-10, SGD lr 0.1, batch 64, one epoch of ${msg.trainCount} images): ${sps.toLocaleString('en')} samples/s`;
      }
      void setModel(msg.model, 'trained model').then((ok) => ok && evaluate());
      break;
    }
    case 'evaluation':
      $('test-accuracy').textContent = `${(100 * msg.accuracy).toFixed(2)}% (loss ${msg.loss.toFixed(4)})`;
      $('test-accuracy').dataset.value = String(msg.accuracy);
      renderConfusion($('confusion'), msg.confusion, msg.classes);
      renderImageGrid(
        $('wrong'),
        msg.wrong.map((w) => ({ pixels: w.pixels, caption: `${w.label} → ${w.predicted}`, title: `test image #${w.index}` })),
        msg.rows,
        msg.cols,
      );
      break;
    case 'error':
      setState(data ? 'ready' : 'loading', `Error: ${msg.message}`);
      break;
  }
};

function evaluate(): void {
  if (!current) return;
  send({ type: 'evaluate', model: current.bytes.slice(), maxWrong: 48 });
}

// ---- Drawing and live prediction.

const pad = new DrawingPad($<HTMLCanvasElement>('pad'), updatePrediction);

function updatePrediction(): void {
  if (!current) return;
  const img = pad.pixels();
  const gray = grayFromRgba(img.data, img.width, img.height);
  const x = preprocessDigit(gray, img.width, img.height, { rows: current.rows, cols: current.cols });
  drawGray($<HTMLCanvasElement>('pad-preview'), x, current.rows, current.cols);
  if (x.every((v) => v === 0)) {
    $('prediction').textContent = '–';
    $('probs').replaceChildren();
    delete $('prediction').dataset.probs;
    return;
  }
  const probs = current.predict(x);
  let best = 0;
  for (let c = 1; c < probs.length; c++) if (probs[c] > probs[best]) best = c;
  $('prediction').textContent = String(best);
  $('prediction').dataset.probs = JSON.stringify([...probs]);
  renderProbabilities($('probs'), probs);
}

// ---- Controls.

$('start').onclick = () => {
  try {
    startTraining(readConfig(), Number(input('subset').value));
  } catch (err) {
    $('status').textContent = `Error: ${(err as Error).message}`;
  }
};
$('pause').onclick = () => {
  if (document.body.dataset.state === 'paused') {
    send({ type: 'resume' });
    setState('training', 'Training…');
  } else send({ type: 'pause' });
};
$('stop').onclick = () => send({ type: 'stop' });
$('eval').onclick = () => evaluate();
$('clear').onclick = () => pad.clear();

$('save').onclick = () => {
  if (!current) return;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([current.bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  a.download = `barenet-${current.model.arch.hidden.join('-') || 'linear'}.safetensors`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
};

input('load').onchange = async () => {
  const file = input('load').files?.[0];
  input('load').value = '';
  if (file) await setModel(new Uint8Array(await file.arrayBuffer()), file.name);
};

function loadDataFiles(files: File[]): void {
  setState('loading', `Reading ${files.length} files…`);
  send({ type: 'files', files });
}
input('data-files').onchange = () => loadDataFiles([...(input('data-files').files ?? [])]);
const drop = $('drop');
drop.ondragover = (e) => {
  e.preventDefault();
  drop.classList.add('over');
};
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  loadDataFiles([...(e.dataTransfer?.files ?? [])]);
};
$('use-mnist').onclick = () => {
  setState('loading', 'Loading MNIST…');
  send({ type: 'mnist', base: new URL(MNIST_BASE, location.href).href });
};

// ---- A CLI run's metrics.jsonl.

input('metrics-file').onchange = async () => {
  const file = input('metrics-file').files?.[0];
  if (!file) return;
  const err = $('metrics-error');
  try {
    const rows = (await file.text())
      .split('\n')
      .filter((l) => l.trim())
      .map((l, i) => {
        const m = JSON.parse(l) as EpochMetrics;
        if (typeof m.epoch !== 'number' || typeof m.train_loss !== 'number') throw new Error(`line ${i + 1} is not an epoch's metrics`);
        return m;
      });
    const series = (label: string, color: string, key: keyof EpochMetrics): Series => ({
      label,
      color,
      dots: true,
      points: rows.map((m) => ({ x: m.epoch, y: m[key] as number })).filter((p) => typeof p.y === 'number'),
    });
    drawChart($<HTMLCanvasElement>('metrics-loss'), [series('train loss', '#137', 'train_loss'), series('val loss', '#a3c', 'val_loss'), series('test loss', '#c63', 'test_loss')], { xLabel: 'epoch', yMin: 0 });
    const acc = [series('val accuracy', '#a3c', 'val_accuracy'), series('test accuracy', '#2a7', 'test_accuracy')];
    drawChart($<HTMLCanvasElement>('metrics-acc'), acc, { xLabel: 'epoch', ...accuracyRange(...acc) });
    err.hidden = true;
  } catch (e) {
    err.hidden = false;
    err.textContent = `${file.name}: ${(e as Error).message}`;
  }
};

// ---- Start: MNIST, and the last model from IndexedDB.

redrawCharts();
send({ type: 'mnist', base: new URL(MNIST_BASE, location.href).href });
if (!bench) {
  loadLastModel()
    .then((m) => m && setModel(m.bytes, `${m.name} (remembered)`, false))
    .catch(() => {});
}
