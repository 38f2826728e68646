// The command line: dispatch to a command; a BarenetError becomes one line on stderr and exit code 2
// (3 when training diverged); anything else is a bug and keeps its stack trace.
import { BarenetError, DivergenceError, UsageError } from '../errors.js';
import { helpText, type CommandSpec } from './args.js';
import { processIo, type Io } from './io.js';
import { trainCommand, trainSpec } from './train.js';
import { evalCommand, evalSpec } from './eval.js';
import { predictCommand, predictSpec } from './predict.js';
import { benchCommand, benchSpec } from './bench.js';
import { exportCommand, exportSpec } from './export.js';

const commands: Record<string, { spec: CommandSpec; run: (argv: string[], io: Io) => Promise<number> }> = {
  train: { spec: trainSpec, run: trainCommand },
  eval: { spec: evalSpec, run: evalCommand },
  predict: { spec: predictSpec, run: predictCommand },
  export: { spec: exportSpec, run: exportCommand },
  bench: { spec: benchSpec, run: benchCommand },
};

export const usage = `barenet — train and run small neural networks with WebAssembly SIMD, no framework

usage: barenet <command> [options]

commands:
${Object.values(commands)
  .map(({ spec }) => `  ${spec.name.padEnd(8)}${spec.summary}`)
  .join('\n')}

Run 'barenet <command> --help' for a command's options and their defaults.
Exit codes: 0 success, 2 bad input (flag, data file, checkpoint), 3 training diverged, 130 interrupted,
141 training stopped because its output was closed (barenet train | head).`;

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage + '\n');
    return name === undefined ? 2 : 0;
  }
  const cmd = commands[name];
  try {
    if (!cmd) throw new UsageError(`unknown command '${name}' (commands: ${Object.keys(commands).join(', ')})`);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(helpText(cmd.spec) + '\n');
      return 0;
    }
    return await cmd.run(rest, io);
  } catch (err) {
    if (err instanceof BarenetError) {
      io.stderr.write(`barenet: ${err.message}\n`);
      return err instanceof DivergenceError ? 3 : 2;
    }
    throw err;
  }
}
