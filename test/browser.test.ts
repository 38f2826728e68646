// The web page in real Chromium (playwright-core; `npm test` installs Debian's chromium first where there is
// none). It builds the page and serves it twice: with COOP/COEP headers (vite preview) and as a plain static
// site (no such headers, where the page's service worker isolates it). In it: training in a worker with the
// library's defaults, bit-identical to Node; drawing, saving and loading; the charts, messages and state
// through a run (stop mid-epoch, blocked data loading, stale results cleared, divergence, form errors);
// uploaded data and the classes field; a phone-sized window and the keyboard. A missing Chromium fails.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST, buildWeb, launchChromium, previewWeb, serveStatic, type Served } from '../web/scripts/browser.js';
import { Engine, Network, Trainer, archInfo, defaultConfig, encodeCheckpoint, encodeImagesIdx, encodeLabelsIdx, loadDataset, type TrainConfig } from '../src/index.js';
import { configFor } from '../web/form.js';

const ARTIFACTS = 'test/artifacts';
const SUBSET = 6000;

let site: Served | undefined; // vite preview: COOP/COEP headers
let plain: Served | undefined; // a static server that sends none
let browser: Browser | undefined;
let page: Page;
const consoleErrors: string[] = [];

/** The page's default run in Node (defaultConfig on the first SUBSET images): its parameters' SHA-256, best.safetensors, history. */
async function trainInNode(config: TrainConfig = defaultConfig, subset = SUBSET) {
  const ds = await loadDataset(undefined, { val: 0 });
  const train = { images: ds.train.images.subarray(0, subset * ds.dim), labels: ds.train.labels.subarray(0, subset), count: subset };
  const t = await Trainer.create({ ...ds, train }, config);
  try {
    await t.run();
    const p = t.model.paramView();
    return {
      sha256: createHash('sha256').update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength)).digest('hex'),
      best: t.encodeBest(),
      history: t.history,
      build: t.config.build,
      accuracy: t.model.evaluate(t.model.upload(ds.test.images, ds.test.labels, ds.test.count)).accuracy,
    };
  } finally {
    t.close();
  }
}
const node = trainInNode();

const text = (sel: string, p = page) => p.locator(sel).innerText();
const attr = (sel: string, name: string, p = page) => p.locator(sel).getAttribute(name);
const modelSha = () => attr('body', 'data-model-sha256');
const probs = () => attr('#prediction', 'data-probs');
const num = (s: string) => Number(s.replace(/,/g, ''));

/** Opens a page on `url` and waits until MNIST is loaded. */
async function openPage(context: BrowserContext, url: string): Promise<Page> {
  const p = await context.newPage();
  p.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  p.on('pageerror', (e) => consoleErrors.push(e.message));
  // A standing listener turns Playwright's file-chooser interception on now: turned on by each waitForEvent, it
  // could come after the click or key press on a loaded machine, and the chooser would open unseen.
  p.on('filechooser', () => {});
  await p.goto(url);
  await p.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
  return p;
}

/** Draws a "1" on the drawing pad with the mouse: a slightly slanted stroke down its middle. */
async function drawOne(p: Page): Promise<void> {
  const box = (await p.locator('#pad').boundingBox())!;
  const x = box.x + box.width / 2;
  await p.mouse.move(x + 6, box.y + 40);
  await p.mouse.down();
  await p.mouse.move(x - 6, box.y + box.height - 40, { steps: 20 });
  await p.mouse.up();
}

/** Fills the training form (only the fields given) and starts a run. */
async function startRun(fields: Record<string, string>, p = page): Promise<void> {
  for (const [id, value] of Object.entries(fields)) {
    if (id === 'optimizer' || id === 'schedule') await p.selectOption(`#${id}`, value);
    else await p.fill(`#${id}`, value);
  }
  await p.click('#start');
}

/** A run to its end, evaluated. */
async function trainToEvaluation(fields: Record<string, string>, p = page): Promise<void> {
  await startRun(fields, p);
  await p.waitForSelector('#test-accuracy[data-value]', { timeout: 120_000 });
}

/** Pixels of one colour in a chart's plot area (below the legend's first row), and their bounding box. */
function chartInk(id: string, rgb: [number, number, number]) {
  return page.evaluate(
    ([id, rgb]) => {
      const c = document.getElementById(id) as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const box = { n: 0, left: Infinity, right: -1, top: Infinity, bottom: -1, width: c.width };
      for (let y = Math.ceil(20 * devicePixelRatio); y < c.height; y++) {
        for (let x = 0; x < c.width; x++) {
          const i = 4 * (y * c.width + x);
          if (d[i + 3] > 250 && Math.abs(d[i] - rgb[0]) + Math.abs(d[i + 1] - rgb[1]) + Math.abs(d[i + 2] - rgb[2]) < 12) {
            box.n++;
            [box.left, box.right, box.top, box.bottom] = [Math.min(box.left, x), Math.max(box.right, x), Math.min(box.top, y), Math.max(box.bottom, y)];
          }
        }
      }
      return box;
    },
    [id, rgb] as const,
  );
}

// Small uploaded datasets: 3 classes of 6×5 images, class c lights up row c (brightness varies).
function smallSet(n: number, corrupt?: { index: number; label: number }) {
  const labels = new Uint8Array(n).map((_, i) => i % 3);
  const pixels = new Uint8Array(n * 30);
  labels.forEach((c, i) => pixels.fill(100 + (i % 7) * 20, i * 30 + c * 5, i * 30 + c * 5 + 5));
  if (corrupt) labels[corrupt.index] = corrupt.label;
  return { images: encodeImagesIdx(pixels, n, 6, 5), labels: encodeLabelsIdx(labels) };
}
const file = (name: string, bytes: Uint8Array) => ({ name, mimeType: 'application/octet-stream', buffer: Buffer.from(bytes) });
function idxFiles(train: ReturnType<typeof smallSet>, test = smallSet(60)) {
  return [
    file('train-images-idx3-ubyte.gz', gzipSync(train.images)),
    file('train-labels-idx1-ubyte', train.labels),
    file('t10k-images-idx3-ubyte', test.images),
    file('t10k-labels-idx1-ubyte.gz', gzipSync(test.labels)),
  ];
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
  await buildWeb();
  [site, plain] = await Promise.all([previewWeb(), serveStatic(DIST)]);
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 1000 } });
  page = await openPage(context, site.url);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await plain?.close();
});

describe('the web page in Chromium', () => {
  it("loads MNIST with no console errors, cross-origin isolated, the form at the library's defaults, charts that read sensibly", async () => {
    expect(await text('#data-info')).toContain('60,000 training and 10,000 test images of 28×28, 10 classes');
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    const form = await page.evaluate(() => Object.fromEntries(['arch', 'epochs', 'batch', 'lr', 'optimizer', 'schedule', 'seed', 'subset'].map((id) => [id, (document.getElementById(id) as HTMLInputElement).value])));
    const d = defaultConfig;
    expect(form).toEqual({ arch: d.arch, epochs: String(d.epochs), batch: String(d.batch), lr: String(d.lr), optimizer: d.optimizer, schedule: d.schedule, seed: String(d.seed), subset: '60000' });
    const threads = await page.evaluate(() => Math.min(4, navigator.hardwareConcurrency));
    expect(await page.inputValue('#threads')).toBe(String(threads));
    expect(await text('#threads-info')).toContain(`Cross-origin isolated: trains on up to ${await page.evaluate(() => navigator.hardwareConcurrency)} threads`);
    // Before any point: the default run's 12 epochs and the full range, no `1.0e-9`.
    expect(await attr('#loss-chart', 'aria-label')).toBe('Loss by epoch (epoch 0 to 12, 0 to 1): no points yet.');
    expect(await attr('#acc-chart', 'aria-label')).toBe('Test accuracy by epoch (epoch 0 to 12, 0% to 100%): no points yet.');
    expect(consoleErrors).toEqual([]);
  });

  it(`trains with the page's defaults on ${SUBSET} images in a worker to > 90% test accuracy, bit-identical to Node's defaultConfig`, async () => {
    await startRun({ subset: String(SUBSET) });
    expect(await text('#status')).toMatch(/^Training on [1-4] threads?…$/);
    await page.waitForSelector('#test-accuracy[data-value]', { timeout: 120_000 });
    expect(Number(await attr('#test-accuracy', 'data-value'))).toBeGreaterThan(0.9);
    // cross-origin isolated: the worker pool; the build feature detection picked, the same as in Node
    expect(await text('#status')).toMatch(/^Training completed: 12 epochs on 6,000 images at [\d,]+ samples\/s, [2-4] threads, (relaxed|release) build\.$/);
    expect(await text('#status')).toContain(`, ${(await node).build} build.`);
    expect(await page.locator('#confusion th[scope="col"]').count()).toBe(11);
    expect(await page.locator('#confusion th[scope="row"]').count()).toBe(10);
    expect(await page.locator('#confusion td').count()).toBe(10 * 10);
    expect(await page.locator('#wrong figure').count()).toBeGreaterThan(0);
    expect(await modelSha()).toBe((await node).sha256);
  });

  it('classifies a "1" drawn with the mouse as 1', async () => {
    await drawOne(page);
    await expect.poll(() => text('#prediction')).toBe('1');
    const p = JSON.parse((await probs())!) as number[];
    expect(p).toHaveLength(10);
    expect(p[1]).toBe(Math.max(...p));
    await page.locator('#wrong').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${ARTIFACTS}/browser.png`, fullPage: true });
  });

  it('saves the same bytes as Node and loads them back (through the "Load .safetensors" button) with the same predictions', async () => {
    const before = { probs: await probs(), sha: await modelSha() };
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
    const saved = readFileSync((await download.path())!);
    expect(download.suggestedFilename()).toBe('barenet-mlp.safetensors');
    expect(saved.equals((await node).best), 'the download is byte for byte what Node encodes').toBe(true);

    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#load-model')]);
    await chooser.setFiles(file('node-best.safetensors', saved));
    await expect.poll(() => text('#model-info')).toContain('node-best.safetensors');
    expect(await modelSha()).toBe(before.sha);
    expect(await probs()).toBe(before.probs);
    expect(await page.locator('#model-error').isHidden()).toBe(true);
  });

  it('shows an error for a corrupt or mismatched checkpoint and keeps the model', async () => {
    const before = { probs: await probs(), sha: await modelSha(), info: await text('#model-info') };
    await page.setInputFiles('#load', file('corrupt.safetensors', Buffer.from('this is not a checkpoint')));
    await expect.poll(() => text('#model-error')).toMatch(/Could not load corrupt\.safetensors: corrupt\.safetensors: .+The current model is unchanged/);

    // A valid checkpoint for 14×14 images does not fit MNIST.
    const small = new Network(await Engine.load(), { spec: 'dense:8', input: { c: 1, h: 14, w: 14 }, classes: 10 }, { batch: 1 });
    const info = { arch: archInfo(small), epoch: 0, seed: 1, optimizer: small.optimizer, step: 0, dataFingerprint: '' };
    await page.setInputFiles('#load', file('small.safetensors', encodeCheckpoint(small, { info })));
    await expect.poll(() => text('#model-error')).toContain('small.safetensors: checkpoint is for 14×14 images and 10 classes, the data has 28×28 images');

    expect(await probs()).toBe(before.probs);
    expect(await modelSha()).toBe(before.sha);
    expect(await text('#model-info')).toBe(before.info);
  });

  it("plots a CLI run's metrics.jsonl (through the \"Open metrics.jsonl\" button)", async () => {
    const jsonl = (await node).history.map((m) => JSON.stringify(m)).join('\n') + '\n';
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#open-metrics')]);
    await chooser.setFiles({ name: 'metrics.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(jsonl) });
    await expect.poll(() => attr('#metrics-loss', 'aria-label')).toMatch(/^The run's loss by epoch \(epoch 0 to 12, 0 to [\d.]+\): train loss [\d.]+ at epoch 12; test loss [\d.]+ at epoch 12\.$/);
    expect((await chartInk('metrics-loss', [0x11, 0x33, 0x77])).n).toBeGreaterThan(100);
    expect(await page.locator('#metrics-error').isHidden()).toBe(true);
  });

  it("after a one-epoch run the accuracy chart's lone point is drawn whole, inside the frame", async () => {
    await trainToEvaluation({ epochs: '1', subset: '2000' });
    const acc = Number(await attr('#test-accuracy', 'data-value'));
    await expect.poll(() => attr('#acc-chart', 'aria-label')).toBe(`Test accuracy by epoch (epoch 0 to 1, ${Math.floor((acc - 0.02) * 20) * 5}% to 100%): test accuracy ${(100 * acc).toFixed(2)}% at epoch 1.`);
    const dot = await chartInk('acc-chart', [0x22, 0xaa, 0x77]);
    const dpr = await page.evaluate(() => devicePixelRatio);
    expect(dot.n).toBeGreaterThanOrEqual(25 * dpr * dpr); // a 7-px disc, not a clipped half of a 5-px square
    expect(dot.right - dot.left + 1).toBeGreaterThanOrEqual(6 * dpr);
    expect(dot.bottom - dot.top + 1).toBeGreaterThanOrEqual(6 * dpr);
    expect(dot.right).toBeLessThan(dot.width - 10 * dpr); // inside the frame's right edge
  });

  it('a new run clears the last one; loading data or a model is blocked while it trains or pauses, Stop is not; a stop mid-epoch reports the samples trained and their speed', async () => {
    expect(await page.locator('#confusion table').count()).toBe(1);
    await page.fill('#subset', '60000');
    await page.fill('#epochs', '20');
    // What the page shows the moment Start is clicked, before the worker says anything.
    const atStart = await page.evaluate(() => {
      document.getElementById('start')!.click();
      const $ = (id: string) => document.getElementById(id)!;
      return { progress: $('progress').textContent, acc: $('test-accuracy').textContent, value: $('test-accuracy').dataset.value ?? null, confusion: $('confusion').childElementCount, wrong: $('wrong').childElementCount, chart: $('acc-chart').getAttribute('aria-label') };
    });
    expect(atStart).toEqual({ progress: '–', acc: '–', value: null, confusion: 0, wrong: 0, chart: 'Test accuracy by epoch (epoch 0 to 20, 0% to 100%): no points yet.' });
    await expect.poll(() => text('#progress')).toMatch(/^epoch \d+\/20, batch \d+\/938, loss [\d.]+, [\d,]+ samples\/s, ETA (\d+ s|\d+ min \d\d s|\d+ h \d\d min)$/);

    const dataInfo = await text('#data-info');
    for (const st of ['training', 'paused']) {
      if (st === 'paused') {
        await page.click('#pause');
        await page.waitForSelector('body[data-state="paused"]');
      }
      for (const id of ['use-mnist', 'choose-data', 'classes', 'load-model', 'start']) expect(await page.isDisabled(`#${id}`), `#${id} while ${st}`).toBe(true);
      expect(await page.isEnabled('#stop')).toBe(true);
      // Files dropped on the zone are refused with a word; the run goes on.
      await page.evaluate(() => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(8)], 'train-images-idx3-ubyte'));
        document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      });
      expect(await text('#status')).toBe('Stop the training before loading other data.');
      expect(await attr('body', 'data-state')).toBe(st);
      expect(await text('#data-info')).toBe(dataInfo);
    }
    await page.click('#pause'); // now "Resume"
    await page.waitForSelector('body[data-state="training"]');
    await page.click('#stop');
    await page.waitForSelector('body[data-state="done"]', { timeout: 60_000 });
    // Mid-epoch, or (when the stop came during an epoch's evaluation) right after one.
    const m = (await text('#status')).match(/^Training stopped (?:in epoch (\d+) at batch ([\d,]+) of 938|after (\d+) epochs?): ([\d,]+) samples trained at ([\d,]+) samples\/s, [1-4] threads?, \w+ build\.$/);
    expect(m, await text('#status')).not.toBeNull();
    const [epoch, batch, after, samples, speed] = m!.slice(1).map((v) => num(v ?? '0'));
    expect(samples).toBe(after ? after * 60_000 : (epoch - 1) * 60_000 + batch * 64);
    expect(speed).toBeGreaterThan(1000);
    for (const id of ['use-mnist', 'choose-data', 'classes', 'load-model', 'start']) expect(await page.isEnabled(`#${id}`)).toBe(true);
  });

  it('Stop works from the moment Start is clicked, while the worker still sets the trainer up', async () => {
    await page.evaluate(() => {
      document.getElementById('start')!.click();
      document.getElementById('stop')!.click();
    });
    await page.waitForSelector('body[data-state="done"]', { timeout: 60_000 });
    expect(await text('#status')).toMatch(/^Training stopped before its first batch \([1-4] threads?, \w+ build\)\.$/);
  });

  it('remembers the last model in IndexedDB across a reload', async () => {
    await page.waitForFunction(() => document.getElementById('model-info')!.textContent!.startsWith('trained model'));
    const sha = await modelSha();
    await page.reload();
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
    await expect.poll(() => text('#model-info')).toContain('(remembered)');
    expect(await modelSha()).toBe(sha);
  });

  it('refuses bad form values with one line naming the field', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ subset: '0' }, 'training images: a whole number from 1 to 60,000 is needed'],
      [{ subset: '60001' }, 'training images: a whole number from 1 to 60,000 is needed'],
      [{ subset: '' }, 'training images: a whole number from 1 to 60,000 is needed'],
      [{ subset: '60000', epochs: '0' }, 'epochs: a positive whole number is needed'],
      [{ epochs: '2', batch: '2.5' }, 'batch: a positive whole number is needed'],
      [{ batch: '64', seed: '4294967296' }, 'seed: a whole number from 0 to 4,294,967,295 is needed'],
      [{ seed: '1', lr: '0' }, 'learning rate: a positive number is needed'],
    ];
    for (const [fields, message] of cases) {
      await startRun(fields);
      expect(await text('#status')).toBe(`Error: ${message}`);
      expect(await attr('body', 'data-state')).toBe('ready');
    }
    await page.fill('#lr', String(defaultConfig.lr));
  });

  it("says a divergence in the page's words, with the rate rounded, and is ready again", async () => {
    await startRun({ lr: '123.456789', schedule: 'none', epochs: '1', subset: '2000' });
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
    expect(await text('#status')).toMatch(/^Error: training diverged: the loss became (NaN|Infinity) at epoch 1, batch \d+ \(learning rate 123\); try a lower learning rate$/);
    expect([await page.isEnabled('#start'), await page.isDisabled('#stop'), await page.isDisabled('#pause')]).toEqual([true, true, true]);
    await page.fill('#lr', String(defaultConfig.lr));
    await page.selectOption('#schedule', defaultConfig.schedule);
  });

  it('checks the current model against newly loaded data at once, and clears the last evaluation and progress', async () => {
    await page.click('#eval');
    await page.waitForSelector('#test-accuracy[data-value]');
    expect(await page.locator('#confusion table').count()).toBe(1);
    await page.setInputFiles('#data-files', idxFiles(smallSet(300)));
    await expect.poll(() => text('#data-info')).toBe('uploaded: 300 training and 60 test images of 6×5, 3 classes.');
    expect(await text('#model-error')).toBe(
      'trained model (remembered): checkpoint is for 28×28 images and 10 classes, the data has 6×5 images and 3 classes: train a model on this data, or load one that fits it.',
    );
    expect(await page.isDisabled('#eval')).toBe(true);
    expect([await text('#test-accuracy'), await attr('#test-accuracy', 'data-value'), await page.locator('#confusion table').count(), await text('#progress')]).toEqual(['–', null, 0, '–']);
    expect(await attr('#acc-chart', 'aria-label')).toMatch(/: no points yet\.$/);
  });

  it('trains on uploaded IDX files of another size and class count', async () => {
    await page.fill('#arch', 'dense:16');
    await page.fill('#epochs', '5');
    await page.selectOption('#schedule', 'none');
    await page.click('#start');
    await page.waitForFunction(() => document.getElementById('test-accuracy')!.dataset.value === '1', undefined, { timeout: 60_000 });
    expect(await page.locator('#confusion td').count()).toBe(3 * 3);
    expect(await page.locator('#model-error').isHidden()).toBe(true);
    expect(await page.isEnabled('#eval')).toBe(true);
  });

  it('the classes field declares the class count; labels at or above it are refused in one line naming file and index', async () => {
    await page.fill('#classes', '5');
    await page.locator('#classes').blur(); // the change reloads the same files with the new count
    await expect.poll(() => text('#data-info')).toBe('uploaded: 300 training and 60 test images of 6×5, 5 classes.');
    await page.setInputFiles('#data-files', idxFiles(smallSet(300, { index: 7, label: 200 })));
    await expect.poll(() => text('#status')).toBe('Error: train-labels-idx1-ubyte: label 200 at index 7 is out of range for 5 classes');
    expect(await attr('body', 'data-state')).toBe('ready');
    expect(await text('#data-info')).toBe('uploaded: 300 training and 60 test images of 6×5, 5 classes.'); // the data there was stays
    await page.fill('#classes', '1');
    await page.locator('#classes').blur();
    expect(await text('#status')).toBe('Error: classes: a whole number from 2 to 256 is needed');
    expect(consoleErrors).toEqual([]);
  });
});

describe('a convolutional network in the page', () => {
  const CNN_SUBSET = 3000;
  const lenet5 = { ...configFor('lenet5'), epochs: 1 };
  const nodeLenet5 = trainInNode(lenet5, CNN_SUBSET);
  let cnn: Page;

  beforeAll(async () => {
    cnn = await openPage(await browser!.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 1000 } }), site!.url);
  }, 120_000);

  it('a bad architecture shows its one-line error and trains nothing', async () => {
    await cnn.fill('#arch', 'conv5x5:6,maxpool2,frob');
    await cnn.click('#start');
    expect(await text('#status', cnn)).toBe(
      "Error: architecture: 'frob' is not a layer; SPEC is a preset (mlp, lenet5, convnet) or layers conv<K>x<K>:<out>[/s<S>][/p<P>], maxpool<K>, dense:<units>, dropout:<p>",
    );
    await cnn.fill('#arch', 'conv29x29:4');
    await cnn.click('#start');
    expect(await text('#status', cnn)).toBe("Error: architecture: 'conv29x29:4' (layer 1) needs an input of at least 29×29 pixels, and gets 1×28×28 (channels×rows×cols)");
    expect(await attr('body', 'data-state', cnn)).toBe('ready');
  });

  it(`lenet5 (picked from the presets, with its recipe) trains on ${CNN_SUBSET} images bit-identical to Node, and shows its filters`, async () => {
    await cnn.fill('#arch', 'lenet5');
    await cnn.locator('#arch').dispatchEvent('change');
    const form = Object.fromEntries(await Promise.all(['epochs', 'batch', 'lr', 'optimizer', 'schedule'].map(async (id) => [id, await cnn.inputValue(`#${id}`)])));
    const r = configFor('lenet5');
    expect(form).toEqual({ epochs: String(r.epochs), batch: String(r.batch), lr: String(r.lr), optimizer: r.optimizer, schedule: r.schedule });
    await trainToEvaluation({ epochs: '1', subset: String(CNN_SUBSET) }, cnn);
    expect(await attr('body', 'data-model-sha256', cnn)).toBe((await nodeLenet5).sha256);
    expect(await text('#model-info', cnn)).toContain('conv5x5:6,maxpool2,conv5x5:16,maxpool2,dense:120,dense:84 → 10 on 1×28×28 (44,426 parameters)');
    expect(await cnn.locator('#filters canvas.filter').count()).toBe(6);
    expect(await attr('#filters', 'aria-label', cnn)).toBe('6 filters of 5×5');
  });

  it("a lenet5 checkpoint from Node loads and gives Node's test accuracy", async () => {
    const { best, accuracy } = await nodeLenet5;
    await cnn.setInputFiles('#load', file('lenet5-best.safetensors', best));
    await expect.poll(() => text('#model-info', cnn)).toContain('lenet5-best.safetensors');
    await cnn.click('#eval');
    await expect.poll(() => attr('#test-accuracy', 'data-value', cnn), { timeout: 60_000 }).toBe(String(accuracy));
  });

  it('trains lenet5 on all of MNIST for one epoch to at least 98%, predicts a drawn "1", downloads .onnx', async () => {
    await trainToEvaluation({ arch: 'lenet5', epochs: '1', subset: '60000' }, cnn);
    expect(Number(await attr('#test-accuracy', 'data-value', cnn))).toBeGreaterThanOrEqual(0.98);
    await drawOne(cnn);
    await expect.poll(() => text('#prediction', cnn)).toBe('1');
    const [download] = await Promise.all([cnn.waitForEvent('download'), cnn.click('#save-onnx')]);
    expect(download.suggestedFilename()).toBe('barenet-lenet5.onnx');
    const onnx = readFileSync((await download.path())!);
    expect(onnx.length).toBeGreaterThan(44_426 * 4); // the weights, and the graph
    expect(onnx.includes(Buffer.from('layers.1.weight'))).toBe(true);
    expect(consoleErrors).toEqual([]);
  });
});

describe('the built page on a static server that sends no COOP/COEP headers', () => {
  it('isolates itself with its service worker, shows the thread count and trains on 2 threads', async () => {
    const res = await fetch(plain!.url);
    expect([...res.headers.keys()].filter((h) => h.startsWith('cross-origin'))).toEqual([]);
    const p = await openPage(await browser!.newContext(), plain!.url);
    expect(await p.evaluate(() => [crossOriginIsolated, navigator.serviceWorker.controller?.scriptURL])).toEqual([true, `${plain!.url}coi-sw.js`]);
    expect(await text('#threads-info', p)).toMatch(/^Cross-origin isolated: trains on up to \d+ threads/);
    await startRun({ threads: '2', epochs: '1', subset: '2000' }, p);
    expect(await text('#status', p)).toBe('Training on 2 threads…');
    await p.waitForSelector('body[data-state="done"]', { timeout: 60_000 });
    expect(await text('#status', p)).toMatch(/^Training completed: 1 epoch on 2,000 images at [\d,]+ samples\/s, 2 threads, (relaxed|release) build\.$/);
    await p.context().close();
  });
});

describe('the page at phone width (390 px) and by keyboard', () => {
  let phone: Page;
  const noSideScroll = () => phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

  beforeAll(async () => {
    const context = await browser!.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    phone = await openPage(context, site!.url);
  }, 120_000);

  it('lays the page out in one column with no horizontal scroll, before and after an evaluation', async () => {
    expect(await noSideScroll()).toBe(true);
    const layout = await phone.evaluate(() => ({
      sections: [...document.querySelectorAll('section')].map((s) => Math.round(s.getBoundingClientRect().left)),
      outside: [...document.querySelectorAll('input:not([hidden]), select, button, canvas')]
        .filter((el) => !(el as HTMLElement).hidden && (el as HTMLElement).offsetParent !== null)
        .filter((el) => {
          const r = el.getBoundingClientRect();
          return r.left < 0 || r.right > window.innerWidth;
        })
        .map((el) => el.id),
    }));
    expect(new Set(layout.sections).size).toBe(1);
    expect(layout.outside).toEqual([]);
    await trainToEvaluation({ epochs: '1', subset: '1000' }, phone);
    expect(await phone.locator('#confusion td').count()).toBe(100);
    expect(await noSideScroll()).toBe(true);
  });

  it('names the drawing pad, the charts and the file buttons, with headers in the confusion matrix', async () => {
    expect(await phone.getByRole('img', { name: /^Drawing pad: draw a digit/ }).count()).toBe(1);
    for (const name of [/^Loss by epoch \(epoch 0 to 1/, /^Test accuracy by epoch \(epoch 0 to 1/, /^The run's loss by epoch/, /^The run's accuracy by epoch/]) {
      expect(await phone.getByRole('img', { name }).count(), String(name)).toBe(1);
    }
    for (const name of ['Choose IDX files…', 'Use MNIST', 'Load .safetensors', 'Open metrics.jsonl']) expect(await phone.getByRole('button', { name, exact: true }).count(), name).toBe(1);
    expect(await phone.getByRole('columnheader').count()).toBe(11);
    expect(await phone.getByRole('rowheader').count()).toBe(10);
  });

  it('reaches every control by Tab, and the file buttons open their choosers from the keyboard', async () => {
    const navigatorCores = await phone.evaluate(() => navigator.hardwareConcurrency);
    const order: string[] = [];
    for (let i = 0; i < 40; i++) {
      await phone.keyboard.press('Tab');
      const id = await phone.evaluate(() => document.activeElement?.id ?? '');
      if (order.includes(id)) break;
      order.push(id);
    }
    const controls = ['choose-data', 'use-mnist', 'classes', 'arch', 'epochs', 'batch', 'lr', 'optimizer', 'schedule', 'seed', 'subset', 'threads', 'start', 'clear', 'eval', 'save', 'save-onnx', 'load-model', 'open-metrics'];
    const expected = controls.filter((id) => id !== 'threads' || navigatorCores > 1); // one core: the field is off
    const cycle = order.filter((id) => expected.includes(id));
    const from = cycle.indexOf('choose-data'); // Tab order is a cycle; read it from the page's first control
    expect([...cycle.slice(from), ...cycle.slice(0, from)]).toEqual(expected);
    // Each chooser is answered (a pending one blocks the next): nothing for the model and metrics, data for the last.
    for (const [id, key, files] of [['load-model', 'Enter', []], ['open-metrics', 'Space', []], ['choose-data', 'Enter', idxFiles(smallSet(300))]] as const) {
      await phone.focus(`#${id}`);
      const [chooser] = await Promise.all([phone.waitForEvent('filechooser', { timeout: 10_000 }), phone.keyboard.press(key)]);
      expect(chooser.isMultiple(), id).toBe(id === 'choose-data');
      await chooser.setFiles([...files]);
    }
    await expect.poll(() => text('#data-info', phone)).toBe('uploaded: 300 training and 60 test images of 6×5, 3 classes.');
    expect(consoleErrors).toEqual([]);
  });
});
