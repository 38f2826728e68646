// The page: wires the DOM to the training worker (worker.ts) and to the current model (predictor.ts).
// State a test can read: body[data-state] (loading, empty, ready, training, paused, done),
// body[data-model-sha256], #test-accuracy[data-value], #prediction[data-probs], the charts' aria-labels.
// `?bench=b1` trains B1 for one epoch on all of MNIST and shows samples/s.
import { PRESETS, autoThreads, defaultConfig, grayFromRgba, preprocessDigit, toOnnx, type EpochMetrics, type TrainConfig } from 'barenet';
import type { DataInfo, DataSource, FromWorker, ToWorker } from './protocol';
import { crossOriginIsolate } from './isolate';
import { FIELDS, defaultFormValues, readClasses, readForm, type FormValues } from './form';
import { duration, runEndStatus } from './messages';
import { Predictor } from './predictor';
import { DrawingPad } from './pad';
import { drawChart, type ChartOptions, type Series } from './plot';
import { loadLastModel, saveLastModel } from './store';
import { drawGray, renderConfusion, renderFilters, renderImageGrid, renderProbabilities } from './views';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const button = (id: string) => $<HTMLButtonElement>(id);
const MNIST_BASE = './data/';
/** B1 on one thread, as Node's B1 is timed. */
const B1: Partial<TrainConfig> = { arch: 'mlp', epochs: 1, batch: 64, lr: 0.1, optimizer: 'sgd', schedule: 'none', seed: 1, threads: 1 };

await crossOriginIsolate(); // on a host without COOP/COEP this reloads the page once, isolated

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (msg: ToWorker) => worker.postMessage(msg);
const bench = new URLSearchParams(location.search).get('bench');
/** Threads need SharedArrayBuffer: a cross-origin isolated page. */
const maxThreads = crossOriginIsolated ? navigator.hardwareConcurrency || 1 : 1;

let data: DataInfo | null = null;
let source: DataSource | null = null;
let current: Predictor | null = null;
/** False when the current model does not fit the loaded data (it still predicts drawings; Evaluate is off). */
let modelFits = true;
let modelQueue: Promise<void> = Promise.resolve();
/** The x axis of the training charts: the run's epochs. */
let runEpochs = defaultConfig.epochs;

const state = () => document.body.dataset.state!;
const isTraining = () => state() === 'training' || state() === 'paused';
const isBusy = () => isTraining() || state() === 'loading';

function setState(next: string, status?: string): void {
  document.body.dataset.state = next;
  if (status !== undefined) $('status').textContent = status;
  const training = isTraining();
  const busy = isBusy();
  button('start').disabled = busy || !data;
  button('pause').disabled = !training;
  button('pause').textContent = next === 'paused' ? 'Resume' : 'Pause';
  button('stop').disabled = !training;
  button('eval').disabled = busy || !data || !current || !modelFits;
  // Data and models are not swapped under a running trainer: stop it first.
  for (const id of ['choose-data', 'use-mnist', 'classes']) $<HTMLButtonElement | HTMLInputElement>(id).disabled = busy;
  button('load-model').disabled = training;
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
    modelFits = true;
    showModelError(null);
    clearEvaluation();
    $('model-info').textContent = `${name}: ${current.description}. SHA-256 of the parameters ${current.sha256.slice(0, 16)}…`;
    document.body.dataset.modelSha256 = current.sha256;
    button('save').disabled = false;
    button('save-onnx').disabled = false;
    showFilters(current);
    setState(state());
    updatePrediction();
    if (remember) saveLastModel({ name, bytes }).catch(() => {});
    return true;
  });
  modelQueue = done.then(() => {});
  return done;
}

/** A convolutional model's first-layer filters, shown as images (hidden for an MLP). */
function showFilters(model: Predictor): void {
  const first = model.tensors.get('layers.0.weight');
  const conv = first !== undefined && first.shape.length === 4;
  $('filters-view').hidden = !conv;
  if (conv) renderFilters($('filters'), first);
}

/** New data: the current model (remembered, loaded or trained on other data) is checked against it at once. */
function checkModelFitsData(): void {
  if (!current || !data) return;
  try {
    current.check(data);
    modelFits = true;
    showModelError(null);
  } catch (err) {
    modelFits = false;
    showModelError(`${(err as Error).message}: train a model on this data, or load one that fits it.`);
  }
}

// ---- Training progress, evaluation and charts.

const batchLoss: Series = { label: 'batch loss', color: '#9bc', points: [], width: 1 };
const epochLoss: Series = { label: 'train loss (epoch)', color: '#137', points: [], dots: true };
const testLoss: Series = { label: 'test loss', color: '#c63', points: [], dots: true };
const testAcc: Series = { label: 'test accuracy', color: '#2a7', points: [], dots: true };
let chartPending = false;

function drawTrainingCharts(): void {
  drawChart($<HTMLCanvasElement>('loss-chart'), 'Loss by epoch', [batchLoss, epochLoss, testLoss], { xLabel: 'epoch', xMax: runEpochs, yMin: 0 });
  drawChart($<HTMLCanvasElement>('acc-chart'), 'Test accuracy by epoch', [testAcc], { xLabel: 'epoch', xMax: runEpochs, ...accuracyRange(testAcc) });
}

/** At most once a frame, however many batches report. */
function redrawCharts(): void {
  if (chartPending) return;
  chartPending = true;
  requestAnimationFrame(() => {
    chartPending = false;
    drawTrainingCharts();
  });
}

/** Accuracy axes end at 100% and start a little below the lowest value (at 0% before any). */
function accuracyRange(...series: Series[]): Pick<ChartOptions, 'yMin' | 'yMax' | 'percent'> {
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter(Number.isFinite);
  const low = Math.min(1, ...ys);
  return { yMin: ys.length ? Math.max(0, Math.floor((low - 0.02) * 20) / 20) : 0, yMax: 1, percent: true };
}

function clearEvaluation(): void {
  $('test-accuracy').textContent = '–';
  delete $('test-accuracy').dataset.value;
  $('confusion').replaceChildren();
  $('wrong').replaceChildren();
}

/** A new run or new data: nothing of the last run stays shown. */
function clearRun(epochs: number): void {
  for (const s of [batchLoss, epochLoss, testLoss, testAcc]) s.points = [];
  runEpochs = epochs;
  drawTrainingCharts();
  $('progress').textContent = '–';
  clearEvaluation();
}

function formValues(): FormValues {
  return Object.fromEntries(FIELDS.map((f) => [f, $<HTMLInputElement | HTMLSelectElement>(f).value])) as FormValues;
}

function setFormValues(v: Partial<FormValues>): void {
  for (const [f, value] of Object.entries(v)) $<HTMLInputElement | HTMLSelectElement>(f).value = value;
}

function startTraining(config: TrainConfig, subset: number, isBench = false): void {
  clearRun(config.epochs);
  const threads = `${config.threads} thread${config.threads > 1 ? 's' : ''}`;
  setState('training', isBench ? 'Benchmarking B1…' : `Training on ${threads}…`);
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
      clearRun(runEpochs);
      checkModelFitsData();
      setState('ready', 'Ready.');
      if (bench === 'b1') startTraining({ ...defaultConfig, ...B1 }, data.train, true);
      break;
    case 'batch': {
      const { p, epochs, batchSize } = msg;
      batchLoss.points.push({ x: p.epoch - 1 + p.batch / p.batches, y: p.loss });
      const left = ((epochs - p.epoch) * p.batches + p.batches - p.batch) * batchSize;
      const eta = p.samplesPerSecond > 0 ? duration(left / p.samplesPerSecond) : '–';
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
      setState('done', runEndStatus(msg));
      if (bench) {
        $('bench').hidden = false;
        $('bench').dataset.samplesPerSecond = String(msg.samplesPerSecond);
        $('bench').textContent = `B1 (784-256-128-10, SGD lr 0.1, batch 64, one epoch of ${msg.trainCount} images): ${Math.round(msg.samplesPerSecond).toLocaleString('en')} samples/s`;
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
      // A failed run or data load ends it; a failed evaluation leaves a run that started since going on.
      if (msg.stage === 'train' || !isTraining()) setState(data ? 'ready' : 'empty', `Error: ${msg.message}`);
      else $('status').textContent = `Error: ${msg.message}`;
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
  if (current.channels !== 1) {
    $('prediction').textContent = `– (the pad draws one grey channel; this model takes ${current.channels})`;
    return;
  }
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
    const shape = data ? { c: data.channels, h: data.rows, w: data.cols } : undefined;
    const { config, subset } = readForm(formValues(), { trainCount: data?.train ?? 0, maxThreads, input: shape, classes: data?.classes });
    startTraining(config, subset);
  } catch (err) {
    $('status').textContent = `Error: ${(err as Error).message}`;
  }
};
$('pause').onclick = () => {
  if (state() === 'paused') {
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
  a.download = `${current.fileStem}.safetensors`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
};

$('save-onnx').onclick = () => {
  if (!current) return;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([toOnnx(current.model) as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  a.download = `${current.fileStem}.onnx`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
};

// A preset in the architecture field brings its recipe: the fields it sets take the preset's defaults.
input('arch').onchange = () => {
  const arch = input('arch').value.trim();
  if (!Object.hasOwn(PRESETS, arch)) return;
  const { epochs, batch, lr, optimizer, schedule } = defaultFormValues(0, 1, arch);
  setFormValues({ epochs, batch, lr, optimizer, schedule });
};
$('presets').replaceChildren(
  ...Object.entries(PRESETS).map(([name, spec]) => Object.assign(document.createElement('option'), { value: name, label: `${name}: ${spec}` })),
);

// Buttons open the hidden file inputs: reachable by Tab, named for screen readers.
for (const [id, target] of [['choose-data', 'data-files'], ['load-model', 'load'], ['open-metrics', 'metrics-file']]) {
  $(id).onclick = () => input(target).click();
}

input('load').onchange = async () => {
  const file = input('load').files?.[0];
  input('load').value = '';
  if (file && !isTraining()) await setModel(new Uint8Array(await file.arrayBuffer()), file.name);
};

/** Loads data (refused while a run or another load goes on), with the classes field's count. */
function loadData(src: DataSource): void {
  if (isBusy()) {
    $('status').textContent = isTraining() ? 'Stop the training before loading other data.' : 'Data is loading: try again when it is done.';
    return;
  }
  let classes: number | undefined;
  try {
    classes = readClasses(input('classes').value);
  } catch (err) {
    $('status').textContent = `Error: ${(err as Error).message}`;
    return;
  }
  source = src;
  setState('loading', src.type === 'mnist' ? 'Loading MNIST…' : `Reading ${src.files.length} files…`);
  send({ ...src, classes });
}
const mnist = (): DataSource => ({ type: 'mnist', base: new URL(MNIST_BASE, location.href).href });

input('data-files').onchange = () => {
  const files = [...(input('data-files').files ?? [])];
  input('data-files').value = '';
  if (files.length) loadData({ type: 'files', files });
};
$('use-mnist').onclick = () => loadData(mnist());
input('classes').onchange = () => source && loadData(source);

const drop = $('drop');
// Files dropped beside the zone would make the browser open them in place of the page.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());
drop.ondragover = (e) => {
  e.preventDefault();
  drop.classList.add('over');
};
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const files = [...(e.dataTransfer?.files ?? [])];
  if (files.length) loadData({ type: 'files', files });
};

// ---- A CLI run's metrics.jsonl.

function drawMetrics(rows: EpochMetrics[]): void {
  const series = (label: string, color: string, key: keyof EpochMetrics): Series => ({
    label,
    color,
    dots: true,
    points: rows.map((m) => ({ x: m.epoch, y: m[key] as number })).filter((p) => typeof p.y === 'number'),
  });
  const loss = [series('train loss', '#137', 'train_loss'), series('val loss', '#a3c', 'val_loss'), series('test loss', '#c63', 'test_loss')];
  drawChart($<HTMLCanvasElement>('metrics-loss'), "The run's loss by epoch", loss, { xLabel: 'epoch', yMin: 0 });
  const acc = [series('val accuracy', '#a3c', 'val_accuracy'), series('test accuracy', '#2a7', 'test_accuracy')];
  drawChart($<HTMLCanvasElement>('metrics-acc'), "The run's accuracy by epoch", acc, { xLabel: 'epoch', ...accuracyRange(...acc) });
}

input('metrics-file').onchange = async () => {
  const file = input('metrics-file').files?.[0];
  input('metrics-file').value = '';
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
    drawMetrics(rows);
    err.hidden = true;
  } catch (e) {
    err.hidden = false;
    err.textContent = `${file.name}: ${(e as Error).message}`;
  }
};

// ---- Start: the defaults, MNIST, and the last model from IndexedDB.

const threads = crossOriginIsolated ? await autoThreads() : 1;
setFormValues(defaultFormValues(0, threads));
input('threads').max = String(maxThreads);
input('threads').disabled = maxThreads === 1;
$('threads-info').textContent = crossOriginIsolated
  ? `Cross-origin isolated: trains on up to ${maxThreads} threads (this device's cores); ${threads} by default.`
  : 'Not cross-origin isolated (no SharedArrayBuffer here): trains on 1 thread.';
clearRun(runEpochs);
drawMetrics([]);
setState('empty');
loadData(mnist());
if (!bench) {
  loadLastModel()
    .then((m) => m && setModel(m.bytes, `${m.name} (remembered)`, false))
    .catch(() => {});
}
