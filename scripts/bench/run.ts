/**
 * `npm run bench`: builds the CLI bundle (`npm run build`), then runs the clone, pack, push and
 * memory benchmarks one after another (each in its own process, each writing its own section of
 * docs/BENCHMARKS.md), and finally writes the page's header: how to reproduce the results, and
 * with what commands and on what machine they were made.
 *
 *   npm run bench [-- --only clone,pack,push,memory] [--runs N] [--database postgres|pglite|both]
 *                 [--quick] [--no-write] [--skip-build] [--header-only]
 *                 [--repo <bare git dir> --range <old>..<new> [--history-runs N]]
 *
 * With `--repo` and `--range` (or PUSHGATE_BENCH_REPO and PUSHGATE_BENCH_RANGE), the pack, push
 * and memory benchmarks also measure the thin push of that real history (scripts/bench/history.ts),
 * `--history-runs` times in pack and push (default: their `--runs`); without, they say how to ask
 * for it and leave it out. The page's header gathers every
 * benchmark's goal rows into one table (`--header-only` rewrites just that header from the rows
 * last recorded, running nothing); PUSHGATE_BENCH_PAGE writes the whole page elsewhere (a dry run).
 *
 * The defaults take about 20 minutes on 2 cores (plus a few minutes, once, to generate the
 * synthetic repositories into .bench/). `--runs` sets every benchmark's run count (the one-commit
 * pushes run 7× as many); `--quick` is a smoke test (fewer runs, no isomorphic-git, no large
 * pack, no ~200 MB push, no memory breakdown) whose results are printed but not written.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCHMARKS_PATH, ROOT, formatGoalValue, goalCell, load, machine, readGoals, type Goal } from './common';
import { HISTORY_HINT, HISTORY_OPTIONS, historyArgs, historySource, shownHistoryArgs } from './history';

const BENCHES = ['clone', 'pack', 'push', 'memory', 'policy', 'holds'] as const;
type Bench = (typeof BENCHES)[number];

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: BENCHES.join(',') },
    runs: { type: 'string' },
    database: { type: 'string', default: 'both' },
    quick: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    'skip-build': { type: 'boolean', default: false },
    'header-only': { type: 'boolean', default: false },
    'history-runs': { type: 'string' },
    ...HISTORY_OPTIONS,
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write('Usage: npm run bench [-- --only clone,pack,push,memory] [--runs N] [--database postgres|pglite|both] [--quick] [--no-write] [--skip-build] [--header-only] [--repo <bare git dir> --range <old>..<new> [--history-runs N]]\n');
  process.exit(0);
}
const only = values.only.split(',').map((b) => b.trim());
for (const b of only) if (!(BENCHES as readonly string[]).includes(b)) throw new Error(`--only: unknown benchmark ${b} (${BENCHES.join(', ')})`);
const noWrite = values['no-write'] || values.quick;
const runs = values.runs === undefined ? undefined : Number(values.runs);
if (runs !== undefined && !(Number.isInteger(runs) && runs > 0)) throw new Error('--runs: a positive integer');
const log = (s: string): void => void process.stderr.write(`${s}\n`);
const source = historySource(values);
/** The benchmarks that measure the public history when given one. */
const WITH_HISTORY: readonly Bench[] = ['pack', 'push', 'memory', 'policy'];

/** The arguments each benchmark runs with, the public history's aside; what the header quotes. */
function argsOf(bench: Bench): string[] {
  const write = noWrite ? ['--no-write'] : [];
  switch (bench) {
    case 'clone': {
      // Clone measures the relay of a fetch: one store is enough (the audit record is written after the clone).
      const database = values.database === 'both' ? 'postgres' : values.database;
      return ['--runs', String(runs ?? (values.quick ? 3 : 9)), '--database', database, ...write];
    }
    case 'pack':
      return ['--runs', String(runs ?? (values.quick ? 1 : 3)), ...(values.quick ? ['--skip-isogit', '--skip-large'] : []), ...write];
    case 'push': {
      const n = runs ?? (values.quick ? 1 : 3);
      const small = values.quick ? 5 : Math.max(21, n * 7);
      return ['--runs', String(n), '--small-runs', String(small), '--database', values.database, ...(values.quick ? ['--only', 'large,small'] : []), ...write];
    }
    case 'memory':
      return [...write];
    case 'policy':
      // Six of each (with and without the prescan, alternated): the worker's effect on the inspection beside it is noisy.
      return ['--runs', String(runs ?? (values.quick ? 1 : 6)), ...write];
    case 'holds':
      return ['--runs', String(runs ?? (values.quick ? 1 : 5)), '--database', values.database, ...write];
  }
}

/** Runs `command args` with the terminal attached; rejects on a non-zero exit. */
function run(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`})`))));
  });
}

const GOALS_INTRO = 'The goals, side by side (medians; each row links to its full table):';

/**
 * The goals, side by side: every benchmark's last recorded rows (medians), in the order the
 * project reports them, each with the section holding its full table.
 */
async function goalsTable(): Promise<string> {
  const rows: Goal[] = [];
  for (const bench of BENCHES) rows.push(...((await readGoals(bench)) ?? []));
  if (rows.length === 0) return '';
  const order = [
    'whole inspection',
    'change set alone',
    'push through the gateway',
    'gateway peak RSS',
    'a one-commit push made while',
    'one-commit push, time added',
    'policy time',
    'approved hold relayed',
  ];
  const rank = (g: Goal) => {
    const i = order.findIndex((o) => g.what.startsWith(o));
    return i === -1 ? order.length : i;
  };
  rows.sort((a, b) => rank(a) - rank(b));
  const anchor = (section: string) => `#${section.replace(/^#+\s*/, '').toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')}`;
  return [
    GOALS_INTRO,
    '',
    '| | on | measured | goal | when |',
    '|---|---|---:|---|---|',
    ...rows.map((g) => `| [${g.what}](${anchor(g.section)}) | ${g.on} | **${formatGoalValue(g.measured, g.unit)}** | ${goalCell(g)} | ${g.date ?? ''} |`),
  ].join('\n');
}

/** Replaces everything before the first `## ` section of docs/BENCHMARKS.md. */
async function writeHeader(header: string): Promise<void> {
  const existing = existsSync(BENCHMARKS_PATH) ? await readFile(BENCHMARKS_PATH, 'utf8') : '';
  const first = existing.indexOf('\n## ');
  const sections = existing.startsWith('## ') ? existing : first === -1 ? '' : existing.slice(first + 1);
  await writeFile(BENCHMARKS_PATH, `${header.trimEnd()}\n\n${sections}`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadBefore = load();
  if (!values['skip-build'] && !values['header-only']) {
    log('> npm run build');
    await run('npm', ['run', 'build']);
  }
  const tsx = createRequire(import.meta.url).resolve('tsx/cli');
  const commands: string[] = [];
  for (const bench of BENCHES) {
    if (!only.includes(bench) || values['header-only']) continue;
    // The memory breakdown is of the ~200 MB push, which a quick run leaves out.
    if (bench === 'memory' && values.quick) continue;
    const own = argsOf(bench);
    const withHistory = WITH_HISTORY.includes(bench) && source !== undefined;
    // The page shows the history by name: the path is this machine's.
    const runsFlag = values['history-runs'] !== undefined && bench !== 'memory' ? ['--history-runs', values['history-runs']] : [];
    const args = [...own, ...(withHistory ? [...historyArgs(source), ...runsFlag] : [])];
    const shown = `npx tsx scripts/bench/${bench}.ts ${own.filter((a) => a !== '--no-write').join(' ')}${withHistory ? ` ${[shownHistoryArgs(source), ...runsFlag].join(' ')}` : ''}`.trim();
    log(`> ${shown}`);
    const t = performance.now();
    await run(process.execPath, [tsx, join('scripts', 'bench', `${bench}.ts`), ...args]);
    log(`< ${bench}: ${((performance.now() - t) / 60_000).toFixed(1)} min`);
    commands.push(shown);
  }
  const minutes = (performance.now() - started) / 60_000;
  log(`all benchmarks: ${minutes.toFixed(1)} min`);
  if (source === undefined) log(`no public history this run: ${HISTORY_HINT}`);
  if (noWrite) return;
  const goals = await goalsTable();
  if (values['header-only']) {
    // The rest of the header (commands, machine, date) stays as the last full run wrote it.
    const existing = existsSync(BENCHMARKS_PATH) ? await readFile(BENCHMARKS_PATH, 'utf8') : '# Benchmarks\n';
    const end = existing.indexOf('\n## ');
    const header = end === -1 ? existing : existing.slice(0, end + 1);
    const at = header.indexOf(GOALS_INTRO);
    await writeHeader(`${(at === -1 ? header : header.slice(0, at)).trimEnd()}\n\n${goals}\n`);
    log(`wrote the goals table in the header of ${BENCHMARKS_PATH}`);
    return;
  }
  const gitVersion = await new Promise<string>((resolve) => {
    const child = spawn('git', ['--version']);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => resolve(out.trim()));
  });
  const date = new Date().toISOString().slice(0, 10);
  await writeHeader(`# Benchmarks

How pushgate's costs compare with git's own, measured side by side in one run on deterministic
synthetic repositories (scripts/synth/repo.ts, generated once and cached under \`.bench/\`) and on a
real repository's history${source ? ` (${source.name} ${source.range})` : ' when given one'}. The
machine the numbers come from is shared and small, so every figure is a median over alternating
runs, and the ratios are what to compare across machines.

To reproduce everything (about 20 minutes on 2 cores without the public history, plus a few minutes
once to generate the repositories; PostgreSQL at 127.0.0.1:5432, or set PUSHGATE_BENCH_PG_URL):

    npm run bench -- --repo <bare clone of ${source?.name ?? 'libgit2/libgit2'}> --range ${source?.range ?? 'v0.20.0..v1.7.0'}

which builds the bundle and runs, one after another (each writes its own section below):

${commands.map((c) => `    ${c}`).join('\n')}

\`--repo\` and \`--range\` add the public history: a bare clone of a real repository, and a range of it
pushed onto the range's start (scripts/bench/history.ts); \`--history-runs N\` sets its run count.
Without them it is left out.

\`npm run bench -- --only push\` runs one of them, \`--runs N\` changes the run counts, \`--database
pglite|postgres|both\` the gateway's audit store, \`--quick\` is a smoke test that writes nothing.

Last full run: ${date}, ${minutes.toFixed(0)} minutes, on ${machine(gitVersion)}; 1-minute load
average ${loadBefore.toFixed(2)} at the start, ${load().toFixed(2)} at the end.

- [Clone through the gateway](#clone-through-the-gateway): a fetch relayed, against the same clone direct.
- [Pack inspection](#pack-inspection): indexing a pushed pack, and the whole inspection, against \`git index-pack\`.
- [Push through the gateway](#push-through-the-gateway): pushes inspected and relayed, against the same pushes direct; the gateway's memory.
- [Memory of a large inspection](#memory-of-a-large-inspection): where the peak of the ~200 MB push's inspection goes.
- [Policy](#policy): judging a push with the recommended rules, against the inspection it follows.
- [Holds](#holds): an approved hold relayed, against the same push direct; a pending hold's cost in the store.

${goals}
`);
  log(`wrote the header of ${BENCHMARKS_PATH}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
