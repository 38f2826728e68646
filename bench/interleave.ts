// Interleaved rounds: every contender once per round (A B C, A B C, …), so a noisy shared machine shifts them
// all alike and their medians compare. A contender that cannot run (absent in every round so far) is not
// asked again.

export type Absent = { absent: string };

export const isAbsent = <R>(x: R | Absent): x is Absent => typeof x === 'object' && x !== null && 'absent' in x;

export interface Contender<R> {
  name: string;
  threads: number;
  run: () => Promise<R | Absent>;
}

export interface InterleaveOptions<R> {
  log: (line: string) => void;
  /** The progress line of a result. */
  describe: (r: R) => string;
  /** Runs after each contender's run (e.g. the machine's two-thread scaling after barenet's). */
  after?: (c: Contender<R>, r: R | Absent) => Promise<void>;
}

/** Each contender's results, one per round it ran, in the contenders' order. */
export async function interleave<R>(label: string, all: Contender<R>[], rounds: number, o: InterleaveOptions<R>): Promise<Map<Contender<R>, (R | Absent)[]>> {
  const contenders = [...all];
  const results = new Map<Contender<R>, (R | Absent)[]>();
  for (let r = 1; r <= rounds; r++) {
    for (const c of contenders) {
      o.log(`${label} round ${r}/${rounds}: ${c.name}, ${c.threads} thread${c.threads > 1 ? 's' : ''}`);
      const res = await c.run();
      if (!results.has(c)) results.set(c, []);
      results.get(c)!.push(res);
      o.log(isAbsent(res) ? `  absent: ${res.absent}` : `  ${o.describe(res)}`);
      await o.after?.(c, res);
    }
    for (const [c, rs] of results) if (rs.every(isAbsent) && contenders.includes(c)) contenders.splice(contenders.indexOf(c), 1);
  }
  return results;
}
