// Checkpoint files on disk: atomic writes (temp file, fsync, rename), reads, and a writability check
// made before training starts. Every failure is a one-line CheckpointError naming the path.
import { mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { CheckpointError } from '../errors.js';

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a parent of it is not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists',
  EFBIG: 'file too large',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'name too long',
};

/** A short, one-line reason for a file system error. */
export function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code && REASONS[code]) return REASONS[code];
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0];
}

/**
 * Writes bytes to path so that a reader sees the old file or the new one, never a part: writes
 * `<path>.tmp-<pid>-<random>` beside it, fsyncs, renames over the target, then fsyncs the directory
 * (best effort). On failure the temp file is removed; the error names the path and `what` was written.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array, what = 'checkpoint'): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await testPause();
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new CheckpointError(`${path}: cannot write ${what}: ${reason(err)}`);
  }
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // Some platforms and file systems cannot fsync a directory; the rename has happened.
  }
}

/**
 * For tests only: BARENET_TEST_SLOW_WRITE=<ms> pauses every atomic write between the complete temp file
 * and the rename, so a test can kill the process while a checkpoint write is under way.
 */
function testPause(): Promise<void> | undefined {
  const ms = Number(process.env.BARENET_TEST_SLOW_WRITE);
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : undefined;
}

/**
 * mkdir -p. Not fs.mkdir({ recursive: true }): in Node 20 that loops forever where mkdir keeps
 * failing with ENOENT (e.g. anywhere under /proc).
 */
async function mkdirs(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = resolve(dir); !(await stat(d).catch(() => null)); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d);
    } catch (err) {
      // Made meanwhile by someone else: fine if it is a directory.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !(await stat(d)).isDirectory()) throw err;
    }
  }
}

/** The bytes of a checkpoint file. */
export async function readCheckpointFile(path: string): Promise<Uint8Array> {
  try {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CheckpointError(`${path}: ${code === 'ENOENT' ? 'no such checkpoint file' : `cannot read checkpoint: ${reason(err)}`}`);
  }
}

/** Creates dir (and its parents) if need be and checks that a file can be created in it. */
export async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await mkdirs(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way of the directory' : reason(err);
    throw new CheckpointError(`${dir}: cannot create checkpoint directory: ${why}`);
  }
  const st = await stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new CheckpointError(`${dir}: cannot create checkpoint directory: a file is in the way of the directory`);
  const probe = join(dir, `.barenet-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fh = await open(probe, 'wx');
    await fh.close();
    await unlink(probe);
  } catch (err) {
    await rm(probe, { force: true }).catch(() => {});
    throw new CheckpointError(`${dir}: checkpoint directory is not writable: ${reason(err)}`);
  }
}
