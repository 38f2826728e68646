// Recipe defaults: the training settings a preset starts from where the MLP's (defaultConfig) do not suit it.
// `barenet train --arch lenet5` and `Trainer.create(data, { arch: 'lenet5' })` both start from these; any setting
// given explicitly wins.
import { presetOf, type PresetName } from '../model/spec.js';
import type { TrainConfig } from './trainer.js';

export const RECIPES: Partial<Record<PresetName, Partial<TrainConfig>>> = {
  lenet5: {},
  convnet: {},
};

/** The settings a spec's preset changes (none for a custom spec or the MLP). */
export function recipeFor(arch: string): Partial<TrainConfig> {
  let preset: PresetName | null = null;
  try {
    preset = presetOf(arch);
  } catch {
    // a spec that does not parse has no recipe; the network refuses it with the parser's message
  }
  return (preset && RECIPES[preset]) ?? {};
}
