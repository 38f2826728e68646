// A small, strict command-line parser: every flag is declared with its type, default and help,
// so `--help` is generated from the same table that parsing uses.
import { UsageError } from '../errors.js';
import { BUILD_CHOICES, checkValue, type ValueRule } from '../train/config.js';

export type FlagType = ValueRule['type'];

/** A flag: its type and range (the rule checkValue applies, shared with the library's config), default and help. */
export interface FlagSpec extends ValueRule {
  default?: unknown;
  help: string;
  /** Shown for the value in help, e.g. DIR. */
  value?: string;
  /** A list flag that may be given empty (`--layers ''`: no hidden layer); otherwise '' is an error. */
  allowEmpty?: boolean;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
  /** Accept positional arguments (e.g. image files). */
  positionals?: string;
}

/** `given`: the flags that were on the command line (the others hold their defaults). */
/** Flags several commands share, declared once. */
export const commonFlags = {
  model: { type: 'string', value: 'FILE', help: 'a .safetensors checkpoint written by barenet (required)' },
  build: {
    type: 'string',
    default: 'auto',
    choices: BUILD_CHOICES,
    help: 'WASM build: release (standard SIMD, the same bits everywhere), relaxed (fused multiply-add), debug (checks on); auto: relaxed where the engine has relaxed SIMD, else release',
  },
  json: { type: 'bool', help: 'print one JSON object with the results as the last line' },
} satisfies Record<string, FlagSpec>;

export type Parsed = { flags: Record<string, any>; positionals: string[]; given: Set<string> };

export function parseArgs(spec: CommandSpec, argv: string[]): Parsed {
  const flags: Record<string, any> = {};
  for (const [name, f] of Object.entries(spec.flags)) flags[name] = f.default;
  const positionals: string[] = [];
  const given = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      if (!spec.positionals) throw new UsageError(`unexpected argument '${arg}' for 'barenet ${spec.name}' (see barenet ${spec.name} --help)`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const f = spec.flags[name];
    if (!f) throw new UsageError(`unknown flag --${name} for 'barenet ${spec.name}' (see barenet ${spec.name} --help)`);
    given.add(name);
    if (f.type === 'bool') {
      if (eq >= 0) {
        const v = arg.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw new UsageError(`--${name}: expected true or false, got '${v}'`);
        flags[name] = v === 'true';
      } else flags[name] = true;
      continue;
    }
    let raw: string;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name}: missing value`);
      raw = argv[++i];
    }
    flags[name] = convert(name, f, raw);
  }
  return { flags, positionals, given };
}

// Numbers are decimal, as written: Number() would also take 0x10, 0b1, 1e2 for a whole number, and ''.
const INT = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function convert(name: string, f: FlagSpec, raw: string): unknown {
  const label = `--${name}`;
  const num = (s: string, int: boolean): number => {
    if (!(int ? INT : DECIMAL).test(s)) throw new UsageError(`${label}: expected ${int ? 'a whole number' : 'a number'}, got '${s}'`);
    const v = Number(s);
    checkValue(label, { ...f, type: int ? 'int' : 'number' }, v, s);
    return v;
  };
  switch (f.type) {
    case 'int':
      return num(raw, true);
    case 'number':
      return num(raw, false);
    case 'ints':
      if (raw === '' && f.allowEmpty) return [];
      return raw.split(',').map((s) => num(s, true));
    case 'strings':
      return raw.split(',').filter((s) => s !== '');
    case 'string':
    case 'spec':
      checkValue(label, f, raw);
      return raw;
  }
  throw new UsageError(`${label}: cannot parse`);
}

export function helpText(spec: CommandSpec): string {
  const rows = Object.entries(spec.flags).map(([name, f]) => {
    const value = f.type === 'bool' ? '' : ` ${f.value ?? (f.choices ? f.choices.join('|') : f.type.toUpperCase())}`;
    const def = f.default === undefined || f.default === false ? '' : ` (default: ${Array.isArray(f.default) ? f.default.join(',') : f.default})`;
    return [`  --${name}${value}`, `${f.help}${def}`];
  });
  const width = Math.max(...rows.map((r) => r[0].length)) + 2;
  return [
    `barenet ${spec.name} — ${spec.summary}`,
    '',
    `usage: ${spec.usage}`,
    '',
    'options:',
    ...rows.map(([a, b]) => a.padEnd(width) + b),
    `  --help`.padEnd(width) + 'show this help',
  ].join('\n');
}
