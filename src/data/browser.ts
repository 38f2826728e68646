// Browser side of the dataset: fetch or read the four IDX files (raw or gzipped), gunzip them with the
// standard DecompressionStream, and build the Dataset with the pure datasetFromBytes. No Node imports;
// it runs in Node 20 too, which has fetch, Blob and DecompressionStream.
import { DataError } from '../errors.js';
import { isGzip } from './idx.js';
import { DATASET_FILES, datasetFromBytes, type Dataset, type DatasetFile, type DatasetFiles, type DatasetOptions } from './dataset-core.js';

export type DatasetRole = keyof DatasetFiles;
const ROLES: DatasetRole[] = ['trainImages', 'trainLabels', 'testImages', 'testLabels'];

/** Reads the four files at once. */
async function readAll(read: (role: DatasetRole) => Promise<DatasetFile>): Promise<DatasetFiles> {
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all(ROLES.map(read));
  return { trainImages, trainLabels, testImages, testLabels };
}

/** Gunzips `bytes` if they start with the gzip magic, else returns them as they are. */
export async function gunzipBytes(bytes: Uint8Array, name = 'data'): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (err) {
    throw new DataError(`${name}: corrupt gzip data (${(err as Error).message})`);
  }
}

/** Fetches a URL's bytes, gunzipped if they are gzip (a server may also have sent them Content-Encoding: gzip). */
export async function fetchBytes(url: string | URL): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new DataError(`${url}: ${(err as Error).message}`);
  }
  if (!res.ok) throw new DataError(`${url}: HTTP ${res.status} ${res.statusText}`);
  return gunzipBytes(new Uint8Array(await res.arrayBuffer()), String(url));
}

/** The four standard files (`train-images-idx3-ubyte.gz`, …) under a base URL (ending in `/`). */
export async function datasetFromUrls(base: string | URL, opts: DatasetOptions = {}, suffix = '.gz'): Promise<Dataset> {
  const files = await readAll(async (role) => {
    const url = new URL(DATASET_FILES[role] + suffix, base);
    return { name: url.href, bytes: await fetchBytes(url) };
  });
  return datasetFromBytes(files, { name: String(base), ...opts });
}

/**
 * Which file is which, from their names: train/test (or t10k) and images/labels (or idx3/idx1).
 * Throws a DataError naming what is missing or ambiguous.
 */
export function assignDatasetFiles<T extends { name: string }>(files: T[]): Record<DatasetRole, T> {
  const out: Partial<Record<DatasetRole, T>> = {};
  for (const f of files) {
    const n = f.name.toLowerCase();
    const split = /t10k|test/.test(n) ? 'test' : /train/.test(n) ? 'train' : null;
    const kind = /images|idx3/.test(n) ? 'Images' : /labels|idx1/.test(n) ? 'Labels' : null;
    if (!split || !kind) throw new DataError(`${f.name}: cannot tell which IDX file this is (name it like train-images-idx3-ubyte)`);
    const role = (split + kind) as DatasetRole;
    if (out[role]) throw new DataError(`${f.name}: two files look like ${DATASET_FILES[role]} (${out[role].name} too)`);
    out[role] = f;
  }
  const missing = ROLES.filter((r) => !out[r]);
  if (missing.length) throw new DataError(`missing ${missing.map((r) => DATASET_FILES[r]).join(', ')} (drop all four IDX files)`);
  return out as Record<DatasetRole, T>;
}

/** A Dataset from four user-supplied files (File objects from a drop or an <input type=file>). */
export async function datasetFromBlobs(files: (Blob & { name: string })[], opts: DatasetOptions = {}): Promise<Dataset> {
  const roles = assignDatasetFiles(files);
  const bytes = await readAll(async (role) => {
    const f = roles[role];
    return { name: f.name, bytes: await gunzipBytes(new Uint8Array(await f.arrayBuffer()), f.name) };
  });
  return datasetFromBytes(bytes, { name: 'uploaded', ...opts });
}
