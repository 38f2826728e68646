// `barenet bench`: barenet's own B1–B4 on this machine (the suite with peers is `npm run bench`).
import { parseArgs, type CommandSpec } from './args.js';
import type { Io } from './io.js';

export const benchSpec: CommandSpec = {
  name: 'bench',
  summary: "run barenet's benchmarks B1–B4 on this machine",
  usage: 'barenet bench [--json]',
  flags: {
    json: { type: 'bool', help: 'print one JSON object with the results as the last line' },
  },
};

export async function benchCommand(argv: string[], io: Io): Promise<number> {
  parseArgs(benchSpec, argv);
  io.stderr.write('barenet: bench is not built yet\n');
  return 1;
}
