// Learning-rate schedules. `step`: multiply by gamma every stepSize epochs. `cosine`: per step from lr to 0
// over the whole run (half a cosine), so the last steps are the gentlest.
export type ScheduleKind = 'none' | 'step' | 'cosine';

export interface Schedule {
  kind: ScheduleKind;
  stepSize: number;
  gamma: number;
}

/** lr for 1-based epoch `epoch` and 0-based global step `step` of `totalSteps`. */
export function learningRate(base: number, s: Schedule, epoch: number, step: number, totalSteps: number): number {
  switch (s.kind) {
    case 'none':
      return base;
    case 'step':
      return base * Math.pow(s.gamma, Math.floor((epoch - 1) / s.stepSize));
    case 'cosine':
      return base * 0.5 * (1 + Math.cos((Math.PI * step) / totalSteps));
  }
}
