// Where a command writes: the process's streams, or buffers in tests.
export interface Io {
  /** closed: the reader went away (barenet … | head): writes are dropped, and a long command may stop. */
  stdout: { isTTY: boolean; readonly closed: boolean; write(s: string): void };
  stderr: { write(s: string): void };
}

/** The process's streams. A closed stdout (EPIPE, which Node raises where other tools get SIGPIPE) is noted, not thrown. */
export function processIo(): Io {
  let closed = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (!closed && err.code !== 'EPIPE') throw err;
    closed = true;
  });
  return {
    stdout: {
      isTTY: !!process.stdout.isTTY,
      get closed() {
        return closed;
      },
      write: (s) => void (closed || process.stdout.write(s)),
    },
    stderr: { write: (s) => void process.stderr.write(s) },
  };
}
