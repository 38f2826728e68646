// The page's current model, on the main thread (a forward pass of one image takes microseconds):
// decoded from safetensors bytes, checked against the data, with a SHA-256 of its parameters.
import { Engine, checkFitsData, decodeCheckpoint, layerSizes, modelFromCheckpoint, type Checkpoint, type Mlp } from 'barenet';

type DataShape = { rows: number; cols: number; classes: number };

export class Predictor {
  private constructor(
    readonly bytes: Uint8Array,
    readonly name: string,
    private readonly info: Checkpoint['info'],
    readonly model: Mlp,
    readonly rows: number,
    readonly cols: number,
    /** SHA-256 (hex) of the parameters as little-endian f32, in the model's buffer layout. */
    readonly sha256: string,
  ) {}

  /** Throws a CheckpointError (the current model stays) if the bytes are not a checkpoint for `data`. */
  static async load(bytes: Uint8Array, name: string, data: DataShape | null): Promise<Predictor> {
    const ck = decodeCheckpoint(bytes, name);
    if (data) checkFitsData(ck.info, data, name);
    const model = modelFromCheckpoint(await Engine.load(), ck, name, 1);
    const params = model.paramView();
    const digest = await crypto.subtle.digest('SHA-256', params.slice().buffer);
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
    return new Predictor(bytes, name, ck.info, model, ck.info.rows, ck.info.cols, hex);
  }

  /** Throws a CheckpointError naming the model when it does not fit `data` (its image size and classes). */
  check(data: DataShape): void {
    checkFitsData(this.info, data, this.name);
  }

  get classes(): number {
    return this.model.arch.classes;
  }

  get description(): string {
    return `${layerSizes(this.model.arch).join('-')} (${this.model.paramCount.toLocaleString('en')} parameters), ${this.rows}×${this.cols} images`;
  }

  predict(pixels: Uint8Array): Float32Array {
    return this.model.predict(pixels);
  }
}
