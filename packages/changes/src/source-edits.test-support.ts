/**
 * Seeded source-like files and edits of them, for line diff tests and benchmarks: C-like
 * functions full of the lines real code repeats (`}`, blank lines, `return 0;`), edited as
 * commits edit code: lines changed, inserted and deleted, functions added, removed and moved.
 */

/** How a corpus is made. */
export interface SourceEditOptions {
  readonly seed: number;
  readonly pairs: number;
  /** Lines of the old file, at least and at most. */
  readonly minLines: number;
  readonly maxLines: number;
  /** Edits per pair, at least and at most. */
  readonly minEdits: number;
  readonly maxEdits: number;
}

/** Pairs of (old, new) file texts. */
export function sourceEdits(options: SourceEditOptions): [string, string][] {
  let s = options.seed >>> 0;
  const r = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const names = ['count', 'size', 'buf', 'next', 'err', 'len', 'opts', 'data', 'result', 'i', 'repo', 'path', 'entry', 'ctx'];
  const statement = () =>
    pick([
      () => `\t${pick(names)} = ${pick(names)} + ${int(0, 9)};`,
      () => `\tif (${pick(names)} < 0)`,
      () => '\t\treturn -1;',
      () => `\t${pick(names)}(${pick(names)}, ${pick(names)});`,
      () => `\tgit_${pick(names)}_free(${pick(names)});`,
      () => '',
      () => '\t}',
      () => `\tif ((error = git_${pick(names)}_lookup(&${pick(names)}, ${pick(names)})) < 0) {`,
      () => '\t\tgoto cleanup;',
      () => `\t/* ${pick(names)} of ${pick(names)} */`,
    ])();
  let serial = 0;
  const fn = () => [`int fn_${serial++}(void *${pick(names)})`, '{', ...Array.from({ length: int(3, 25) }, statement), '', 'cleanup:', '\treturn 0;', '}', ''];
  const out: [string, string][] = [];
  for (let c = 0; c < options.pairs; c++) {
    const target = int(options.minLines, options.maxLines);
    const fns: string[][] = [['#include "common.h"', '']];
    for (let n = 2; n < target; ) {
      const f = fn();
      fns.push(f);
      n += f.length;
    }
    const edited = fns.map((f) => [...f]);
    const edits = int(options.minEdits, options.maxEdits);
    for (let e = 0; e < edits; e++) {
      const f = int(1, edited.length - 1);
      const kind = r();
      if (kind < 0.08 && edited.length > 3) {
        const [moved] = edited.splice(f, 1);
        edited.splice(int(1, edited.length), 0, moved);
      } else if (kind < 0.16) {
        edited.splice(f, 0, fn());
      } else if (kind < 0.22 && edited.length > 3) {
        edited.splice(f, 1);
      } else {
        const body = edited[f];
        const at = int(2, Math.max(2, body.length - 4));
        const op = r();
        if (op < 0.4) body.splice(at, int(1, 3), ...Array.from({ length: int(1, 3) }, statement));
        else if (op < 0.7) body.splice(at, 0, ...Array.from({ length: int(1, 6) }, statement));
        else body.splice(at, int(1, 4));
      }
    }
    const noFinalNewline = r() < 0.05;
    const a = fns.flat().join('\n') + (noFinalNewline ? '' : '\n');
    const b = edited.flat().join('\n') + (noFinalNewline !== r() < 0.03 ? '' : '\n');
    out.push([a, b]);
  }
  return out;
}
