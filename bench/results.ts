// The suite's report, section by section (B1–B4, B5, B6, the conv kernels): as text on stdout, and as bench/RESULTS.md, where
// `--write` replaces only the sections that ran and keeps the others as they were (so `--only b5,b6 --write`
// does not drop B1–B4). Each section carries the line saying when, where and with what it was measured.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/checkpoint/files.js';
import { markdownTable, textTable } from '../src/bench/table.js';

export const SECTIONS = ['b1-b4', 'b5', 'b6', 'conv'] as const;
export type SectionName = (typeof SECTIONS)[number];

export interface Section {
  name: SectionName;
  /** Heading in RESULTS.md. */
  title: string;
  /** What was run and how (after the machine line). */
  intro: string;
  tables: { head: string[]; body: string[][] }[];
  notes: string[];
  json: unknown;
}

export const RESULTS_FILE = fileURLToPath(new URL('./RESULTS.md', import.meta.url));

export function renderText(header: string, sections: Section[]): string {
  return [header, '', ...sections.flatMap((s) => [...s.tables.map((t) => textTable(t.head, t.body) + '\n'), s.notes.join('\n'), ''])].join('\n');
}

const begin = (name: SectionName) => `<!-- section ${name}: written by bench/run.ts -->`;
const end = (name: SectionName) => `<!-- end of section ${name} -->`;

function renderMarkdown(header: string, s: Section): string {
  return [
    begin(s.name),
    `## ${s.title}`,
    '',
    `${header}. ${s.intro}`,
    '',
    ...s.tables.flatMap((t) => [markdownTable(t.head, t.body), '']),
    ...s.notes.map((l) => l + '  '),
    end(s.name),
  ].join('\n');
}

/** The sections of an existing RESULTS.md, by name, as written (markers included). */
export function readSections(text: string): Map<SectionName, string> {
  const found = new Map<SectionName, string>();
  for (const name of SECTIONS) {
    const [i, j] = [text.indexOf(begin(name)), text.indexOf(end(name))];
    if (i >= 0 && j > i) found.set(name, text.slice(i, j + end(name).length));
  }
  return found;
}

/** Rewrites RESULTS.md with these sections; the sections not run keep their text from the file. */
export async function writeResults(header: string, sections: Section[], path = RESULTS_FILE): Promise<void> {
  const kept = existsSync(path) ? readSections(readFileSync(path, 'utf8')) : new Map<SectionName, string>();
  for (const s of sections) kept.set(s.name, renderMarkdown(header, s));
  const md = [
    '# Benchmark results',
    '',
    'Written by `npm run bench -- --write` (bench/run.ts); do not edit by hand. shared/docs/benchmark.md defines',
    'B1–B6; contenders run interleaved, round by round, and the tables give medians. `--only` reruns some',
    'sections; each says when and where it was measured.',
    '',
    ...SECTIONS.flatMap((name) => (kept.has(name) ? [kept.get(name)!, ''] : [])),
  ].join('\n');
  await writeFileAtomic(path, new TextEncoder().encode(md));
}
