// Samples per second over a run in the page, pauses and evaluations excluded, a stop within an epoch
// included: whole epochs are timed by the trainer (epoch_seconds), the part of an epoch before a stop
// or pause by this clock, from the run's (re)start or the last epoch's end to the first refused batch.
export class TrainingSpeed {
  samples = 0;
  seconds = 0;
  private partStart = 0;
  private partFirst = 0;
  private halted = false;

  constructor(
    /** Training images per epoch, and the batch size. */
    private readonly count: number,
    private readonly batch: number,
    private readonly clock: () => number = () => performance.now() / 1000,
  ) {}

  /** Before each trainer.run(): the first start (0) or a resume within an epoch (batches already done). */
  start(batchInEpoch: number): void {
    this.partStart = this.clock();
    this.partFirst = batchInEpoch;
    this.halted = false;
  }

  /** An epoch finished; the trainer timed the part of it this run trained. */
  epoch(epochSeconds: number): void {
    this.samples += this.count - Math.min(this.count, this.partFirst * this.batch);
    this.seconds += epochSeconds;
    this.partStart = this.clock();
    this.partFirst = 0;
  }

  /** Training was asked to stop (shouldStop said yes) with `batchInEpoch` batches done in the epoch. */
  halt(batchInEpoch: number): void {
    if (this.halted) return;
    this.halted = true;
    const b = this.batch;
    this.samples += Math.min(this.count, batchInEpoch * b) - Math.min(this.count, this.partFirst * b);
    this.seconds += this.clock() - this.partStart;
  }

  get perSecond(): number {
    return this.seconds > 0 ? this.samples / this.seconds : 0;
  }
}
