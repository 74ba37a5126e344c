/**
 * Writing the benchmarks page: one `## ` section per benchmark, replaced while the others are
 * left alone, and each benchmark's goal rows kept for `npm run bench` to gather into the page's
 * summary. Node built-ins only: the pack benchmark bundles this into the children it measures.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/**
 * The page every benchmark writes its section of; PUSHGATE_BENCH_PAGE points the scripts at
 * another file (a dry run that checks the writing without touching the recorded results).
 */
export const BENCHMARKS_PATH = process.env.PUSHGATE_BENCH_PAGE ? resolve(process.env.PUSHGATE_BENCH_PAGE) : join(ROOT, 'docs', 'BENCHMARKS.md');
/** Where each benchmark leaves its goal rows for `npm run bench` to gather into the page's summary. */
export const RESULTS_DIR = process.env.PUSHGATE_BENCH_PAGE ? `${resolve(process.env.PUSHGATE_BENCH_PAGE)}.results` : join(ROOT, '.bench', 'results');

/** Replaces the section starting with `heading` (up to the next `## `) in docs/BENCHMARKS.md, or appends it. */
export async function writeSection(heading: string, section: string): Promise<void> {
  const existing = existsSync(BENCHMARKS_PATH) ? await readFile(BENCHMARKS_PATH, 'utf8') : '# Benchmarks\n';
  const body = section.endsWith('\n') ? section : `${section}\n`;
  const start = existing.indexOf(`${heading}\n`);
  let next: string;
  if (start === -1) next = `${existing.trimEnd()}\n\n${body}`;
  else {
    const after = existing.indexOf('\n## ', start + heading.length);
    next = existing.slice(0, start) + body + (after === -1 ? '' : `\n${existing.slice(after + 1)}`);
  }
  await writeFile(BENCHMARKS_PATH, next);
}


/** One measured figure against the project's goal for it. */
export interface Goal {
  /** What is compared, as the summary's row names it (e.g. "push through the gateway / the same push direct"). */
  readonly what: string;
  /** On which input: "synthetic", "large synthetic", "public history (…)"… */
  readonly on: string;
  readonly measured: number;
  /** The goal is `measured <= limit`. */
  readonly limit: number;
  /** `x` a ratio, `MB` megabytes, `ms` milliseconds added. */
  readonly unit: 'x' | 'MB' | 'ms';
  /** Where the full table is (a section of the page). */
  readonly section: string;
  /** When it was measured (YYYY-MM-DD), set when recorded. */
  readonly date?: string;
}

/** A figure as the pages print it: `1.23×`, `301 MB`, `+45 ms`. */
export function formatGoalValue(value: number, unit: Goal['unit']): string {
  if (unit === 'x') return `${value.toFixed(2)}×`;
  if (unit === 'MB') return `${Math.round(value)} MB`;
  return `${value >= 0 ? '+' : ''}${Math.round(value)} ms`;
}

/** The goal column: `≤ 1.30× ✓`, or `≤ 1.30× ✗ missed by 0.99× (76%)`. */
export function goalCell(g: Pick<Goal, 'measured' | 'limit' | 'unit'>): string {
  const limit = g.unit === 'x' ? `≤ ${g.limit.toFixed(1)}×` : g.unit === 'MB' ? `≤ ${g.limit} MB` : `≤ +${g.limit} ms`;
  if (g.measured <= g.limit) return `${limit} ✓`;
  const over = g.measured - g.limit;
  const by = g.unit === 'x' ? `${over.toFixed(2)}× (${Math.round((over / g.limit) * 100)}%)` : g.unit === 'MB' ? `${Math.round(over)} MB` : `${Math.round(over)} ms`;
  return `${limit} ✗ missed by ${by}`;
}

/** Records a benchmark's goal rows, each dated, replacing the rows it measured before for the same figure and input. */
export async function writeGoals(bench: string, goals: readonly Goal[]): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const key = (g: Goal) => `${g.what}\u0000${g.on}`;
  const fresh = new Set(goals.map(key));
  // A run of some parts only (`--only`) keeps the other parts' last rows.
  const kept = ((await readGoals(bench)) ?? []).filter((g) => !fresh.has(key(g)));
  await writeFile(join(RESULTS_DIR, `${bench}.json`), `${JSON.stringify([...kept, ...goals.map((g) => ({ ...g, date }))], null, 2)}\n`);
}

/** A benchmark's recorded goal rows (none if it never wrote any). */
export async function readGoals(bench: string): Promise<Goal[] | undefined> {
  const path = join(RESULTS_DIR, `${bench}.json`);
  if (!existsSync(path)) return undefined;
  return JSON.parse(await readFile(path, 'utf8')) as Goal[];
}
