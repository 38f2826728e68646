// The web page in real Chromium (Debian's /usr/bin/chromium through playwright-core): it builds the
// page with vite, serves it, trains in a worker, predicts a drawn digit, saves/loads checkpoints, and
// trains bit-identically to Node. A missing Chromium fails the test (see launchChromium).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAndPreview, launchChromium, type Served } from '../web/scripts/browser.js';
import { gzipSync } from 'node:zlib';
import { Engine, Mlp, Trainer, defaultConfig, encodeCheckpoint, encodeImagesIdx, encodeLabelsIdx, loadDataset, type TrainConfig } from '../src/index.js';

const ARTIFACTS = 'test/artifacts';
const SUBSET = 6000;
const config: TrainConfig = { ...defaultConfig, hidden: [256, 128], epochs: 1, batch: 16, lr: 0.002, optimizer: 'adam', schedule: 'cosine', seed: 1 };

let served: Served | undefined;
let browser: Browser | undefined;
let page: Page;
const consoleErrors: string[] = [];

/** The same training in Node: its parameters' SHA-256 and its best.safetensors bytes. */
async function trainInNode() {
  const ds = await loadDataset(undefined, { val: 0 });
  const train = { images: ds.train.images.subarray(0, SUBSET * ds.dim), labels: ds.train.labels.subarray(0, SUBSET), count: SUBSET };
  const t = await Trainer.create({ ...ds, train }, config);
  await t.run();
  const p = t.model.paramView();
  return {
    sha256: createHash('sha256').update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength)).digest('hex'),
    best: t.encodeBest(),
    history: t.history,
    build: t.config.build,
  };
}
const node = trainInNode();

const text = (sel: string) => page.locator(sel).innerText();
const attr = (sel: string, name: string) => page.locator(sel).getAttribute(name);
const modelSha = () => attr('body', 'data-model-sha256');
const probs = () => attr('#prediction', 'data-probs');

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
  served = await buildAndPreview();
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 1000 } });
  page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  await page.goto(served.url);
  await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await served?.close();
});

describe('the web page in Chromium', () => {
  it('loads MNIST with no console errors, cross-origin isolated', async () => {
    expect(await text('#data-info')).toContain('60,000 training and 10,000 test images of 28×28, 10 classes');
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    expect(consoleErrors).toEqual([]);
  });

  it(`trains one epoch on ${SUBSET} images in a worker to > 90% test accuracy, bit-identical to Node`, async () => {
    await page.fill('#layers', config.hidden.join(','));
    await page.fill('#epochs', String(config.epochs));
    await page.fill('#batch', String(config.batch));
    await page.fill('#lr', String(config.lr));
    await page.selectOption('#optimizer', config.optimizer);
    await page.selectOption('#schedule', config.schedule);
    await page.fill('#seed', String(config.seed));
    await page.fill('#subset', String(SUBSET));
    await page.click('#start');
    await page.waitForSelector('#test-accuracy[data-value]', { timeout: 120_000 });
    const accuracy = Number(await attr('#test-accuracy', 'data-value'));
    expect(accuracy).toBeGreaterThan(0.9);
    // cross-origin isolated: the worker pool; the build feature detection picked, the same as in Node
    expect(await text("#status")).toMatch(/Training completed: [\d,]+ samples\/s on 6,000 images, [2-4] threads, (relaxed|release) build\./);
    expect(await text("#status")).toContain(`, ${(await node).build} build.`);
    expect(await page.locator('#confusion td').count()).toBe(11 * 11);
    expect(await page.locator('#wrong figure').count()).toBeGreaterThan(0);
    expect(await modelSha()).toBe((await node).sha256);
  });

  it('classifies a "1" drawn with the mouse as 1', async () => {
    const box = (await page.locator('#pad').boundingBox())!;
    const x = box.x + box.width / 2;
    await page.mouse.move(x + 6, box.y + 40);
    await page.mouse.down();
    await page.mouse.move(x - 6, box.y + box.height - 40, { steps: 20 });
    await page.mouse.up();
    await expect.poll(() => text('#prediction')).toBe('1');
    const p = JSON.parse((await probs())!) as number[];
    expect(p).toHaveLength(10);
    expect(p[1]).toBe(Math.max(...p));
    await page.locator('#wrong').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${ARTIFACTS}/browser.png`, fullPage: true });
  });

  it('saves the same bytes as Node and loads them back with the same predictions', async () => {
    const before = { probs: await probs(), sha: await modelSha() };
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
    const saved = readFileSync((await download.path())!);
    expect(download.suggestedFilename()).toBe('barenet-256-128.safetensors');
    expect(saved.equals((await node).best), 'the download is byte for byte what Node encodes').toBe(true);

    await page.setInputFiles('#load', { name: 'node-best.safetensors', mimeType: 'application/octet-stream', buffer: saved });
    await expect.poll(() => text('#model-info')).toContain('node-best.safetensors');
    expect(await modelSha()).toBe(before.sha);
    expect(await probs()).toBe(before.probs);
    expect(await page.locator('#model-error').isHidden()).toBe(true);
  });

  it('shows an error for a corrupt or mismatched checkpoint and keeps the model', async () => {
    const before = { probs: await probs(), sha: await modelSha(), info: await text('#model-info') };
    await page.setInputFiles('#load', { name: 'corrupt.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('this is not a checkpoint') });
    await expect.poll(() => text('#model-error')).toMatch(/Could not load corrupt\.safetensors: corrupt\.safetensors: .+The current model is unchanged/);

    // A valid checkpoint for 14×14 images does not fit MNIST.
    const small = new Mlp(await Engine.load(), { input: 196, hidden: [8], classes: 10 }, { batch: 1 });
    const info = { arch: small.arch, rows: 14, cols: 14, epoch: 0, seed: 1, optimizer: small.optimizer, step: 0, dataFingerprint: '' };
    const mismatched = Buffer.from(encodeCheckpoint(small, { info }));
    await page.setInputFiles('#load', { name: 'small.safetensors', mimeType: 'application/octet-stream', buffer: mismatched });
    await expect.poll(() => text('#model-error')).toContain('small.safetensors: checkpoint is for 14×14 images and 10 classes, the data has 28×28 images');

    expect(await probs()).toBe(before.probs);
    expect(await modelSha()).toBe(before.sha);
    expect(await text('#model-info')).toBe(before.info);
  });

  it("plots a CLI run's metrics.jsonl", async () => {
    const jsonl = (await node).history.map((m) => JSON.stringify(m)).join('\n') + '\n';
    await page.setInputFiles('#metrics-file', { name: 'metrics.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(jsonl) });
    const inked = await page.evaluate(() => {
      const c = document.getElementById('metrics-loss') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
      return n;
    });
    expect(inked).toBeGreaterThan(100);
    expect(await page.locator('#metrics-error').isHidden()).toBe(true);
  });

  it('pauses, resumes and stops training', async () => {
    await page.fill('#epochs', '20');
    await page.click('#start');
    await page.waitForSelector('body[data-state="training"]');
    await page.click('#pause');
    await page.waitForSelector('body[data-state="paused"]');
    await page.click('#pause'); // now "Resume"
    await page.waitForSelector('body[data-state="training"]');
    await page.click('#stop');
    await page.waitForSelector('body[data-state="done"]', { timeout: 60_000 });
    expect(await text('#status')).toMatch(/^Training stopped/);
  });

  it('remembers the last model in IndexedDB across a reload', async () => {
    await page.waitForFunction(() => document.getElementById('model-info')!.textContent!.startsWith('trained model'));
    const sha = await modelSha();
    await page.reload();
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
    await expect.poll(() => text('#model-info')).toContain('(remembered)');
    expect(await modelSha()).toBe(sha);
  });

  it('trains on uploaded IDX files of another size and class count', async () => {
    // 3 classes of 6×5 images: class c lights up row c (plus noise-free variety in brightness).
    const set = (n: number) => {
      const labels = new Uint8Array(n).map((_, i) => i % 3);
      const pixels = new Uint8Array(n * 30);
      labels.forEach((c, i) => pixels.fill(100 + (i % 7) * 20, i * 30 + c * 5, i * 30 + c * 5 + 5));
      return { images: encodeImagesIdx(pixels, n, 6, 5), labels: encodeLabelsIdx(labels) };
    };
    const train = set(300);
    const test = set(60);
    const file = (name: string, bytes: Uint8Array) => ({ name, mimeType: 'application/octet-stream', buffer: Buffer.from(bytes) });
    await page.setInputFiles('#data-files', [
      file('train-images-idx3-ubyte.gz', gzipSync(train.images)),
      file('train-labels-idx1-ubyte', train.labels),
      file('t10k-images-idx3-ubyte', test.images),
      file('t10k-labels-idx1-ubyte.gz', gzipSync(test.labels)),
    ]);
    await expect.poll(() => text('#data-info')).toBe('uploaded: 300 training and 60 test images of 6×5, 3 classes.');
    await page.fill('#layers', '16');
    await page.fill('#epochs', '5');
    await page.selectOption('#schedule', 'none');
    await page.click('#start');
    await page.waitForFunction(() => document.getElementById('test-accuracy')!.dataset.value === '1', undefined, { timeout: 60_000 });
    expect(await page.locator('#confusion td').count()).toBe(4 * 4);
    expect(consoleErrors).toEqual([]);
  });
});
