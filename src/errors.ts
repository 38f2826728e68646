// Every error a user can cause is one of these: the CLI prints `barenet: <message>` and exits 2.
export class BarenetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A data file (IDX, PGM/PNG) that is missing, malformed or inconsistent. The message names the file. */
export class DataError extends BarenetError {}

/** A checkpoint that cannot be read, or that does not fit the model/data. The message names the file. */
export class CheckpointError extends BarenetError {}

/** A bad command line: unknown flag, malformed value. The message names the flag. */
export class UsageError extends BarenetError {}

/** A model that cannot be written as ONNX: a layer kind without an export rule, a tensor missing or misshapen. */
export class ExportError extends BarenetError {}

/** Training produced a non-finite loss: `detail` says what, at which learning rate, from which base rate (`lr` option). */
export class DivergenceError extends BarenetError {
  constructor(message: string, readonly detail?: { what: string; lr: number; base: number }) {
    super(message);
  }
}

/** A network whose memory plan does not fit WebAssembly's memory. `needed` and `limit` are in bytes. */
export class MemoryError extends BarenetError {
  constructor(message: string, readonly needed: number, readonly limit: number) {
    super(message);
  }
}
