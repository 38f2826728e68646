// Early stopping on validation loss: an epoch improves when its loss is below best − minDelta;
// after `patience` epochs without improvement, training stops.
export type Verdict = 'improved' | 'waiting' | 'stop';

export interface EarlyStoppingState {
  bestLoss: number | null;
  bestEpoch: number;
  badEpochs: number;
}

export class EarlyStopping {
  bestLoss: number | null = null;
  bestEpoch = 0;
  badEpochs = 0;

  constructor(readonly patience: number, readonly minDelta: number, state?: EarlyStoppingState) {
    if (state) Object.assign(this, state);
  }

  update(loss: number, epoch: number): Verdict {
    // NaN is never an improvement (NaN < x is false, but there is no best yet to compare with).
    if (!Number.isNaN(loss) && (this.bestLoss === null || loss < this.bestLoss - this.minDelta)) {
      this.bestLoss = loss;
      this.bestEpoch = epoch;
      this.badEpochs = 0;
      return 'improved';
    }
    this.badEpochs++;
    return this.patience > 0 && this.badEpochs >= this.patience ? 'stop' : 'waiting';
  }

  get state(): EarlyStoppingState {
    return { bestLoss: this.bestLoss, bestEpoch: this.bestEpoch, badEpochs: this.badEpochs };
  }
}
