// The page's current model, on the main thread (a forward pass of one image takes microseconds):
// decoded from safetensors bytes, checked against the data, with a SHA-256 of its parameters.
import { Engine, archInfo, checkFitsData, decodeCheckpoint, describeArch, modelFromCheckpoint, presetOf, type Checkpoint, type Network } from 'barenet';

type DataShape = { rows: number; cols: number; channels: number; classes: number };

export class Predictor {
  private constructor(
    readonly bytes: Uint8Array,
    readonly name: string,
    readonly info: Checkpoint['info'],
    /** The checkpoint's tensors, in PyTorch's layouts (layers.0.weight, …). */
    readonly tensors: Checkpoint['tensors'],
    readonly model: Network,
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
    return new Predictor(bytes, name, ck.info, ck.tensors, model, hex);
  }

  /** Throws a CheckpointError naming the model when it does not fit `data` (its image size and classes). */
  check(data: DataShape): void {
    checkFitsData(this.info, data, this.name);
  }

  get classes(): number {
    return this.model.classes;
  }
  get rows(): number {
    return this.model.input.h;
  }
  get cols(): number {
    return this.model.input.w;
  }
  get channels(): number {
    return this.model.input.c;
  }
  /** A short name for files: the preset, or "model". */
  get fileStem(): string {
    return `barenet-${presetOf(this.model.spec) ?? 'model'}`;
  }

  get description(): string {
    const { c, h, w } = this.model.input;
    return `${describeArch(archInfo(this.model))} (${this.model.paramCount.toLocaleString('en')} parameters), ${h}×${w}${c > 1 ? `×${c}` : ''} images`;
  }

  predict(pixels: Uint8Array): Float32Array {
    return this.model.predict(pixels);
  }
}
