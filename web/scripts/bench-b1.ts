// B1 samples/s in Chromium (the page's ?bench=b1, training in its worker) beside Node (the same Trainer
// call), one epoch each: 784-256-128-10, SGD lr 0.1, batch 64, no schedule, all 60,000 MNIST training
// images, no validation split. Run: npx tsx web/scripts/bench-b1.ts
import { Trainer, defaultConfig, loadDataset, type TrainConfig } from '../../src/index.js';
import { buildAndPreview, launchChromium } from './browser.js';

const B1: TrainConfig = { ...defaultConfig, arch: 'mlp', epochs: 1, batch: 64, lr: 0.1, optimizer: 'sgd', schedule: 'none', seed: 1 };

async function chromiumB1(): Promise<number> {
  const served = await buildAndPreview();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`${served.url}?bench=b1`);
    await page.waitForSelector('#bench[data-samples-per-second]', { timeout: 600_000 });
    console.log('chromium:', await page.locator('#bench').innerText());
    return Number(await page.locator('#bench').getAttribute('data-samples-per-second'));
  } finally {
    await browser.close();
    await served.close();
  }
}

async function nodeB1(): Promise<number> {
  const ds = await loadDataset(undefined, { val: 0 });
  const t = await Trainer.create(ds, B1);
  const r = await t.run();
  const sps = r.history[0].samples_per_second;
  console.log(`node: B1 one epoch of ${ds.train.count} images: ${Math.round(sps)} samples/s, test accuracy ${r.test.accuracy}`);
  return sps;
}

const runs = Number(process.argv[2] ?? 1);
for (let i = 0; i < runs; i++) {
  const c = await chromiumB1();
  const n = await nodeB1();
  console.log(`B1 samples/s: chromium ${Math.round(c)}, node ${Math.round(n)} (chromium/node ${(c / n).toFixed(2)})`);
}
