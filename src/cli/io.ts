// Where a command writes: the process's streams, or buffers in tests.
export interface Io {
  stdout: { isTTY: boolean; write(s: string): void };
  stderr: { write(s: string): void };
}

export const processIo: Io = {
  stdout: { isTTY: !!process.stdout.isTTY, write: (s) => void process.stdout.write(s) },
  stderr: { write: (s) => void process.stderr.write(s) },
};
