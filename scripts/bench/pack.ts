/**
 * Pack inspection benchmark: on the same thin pack and base repository, side by side in one run,
 *
 *   - `git index-pack --fix-thin --stdin` in a copy of the base repository (the reference);
 *   - pushgate's `indexPack` with the base repository as `external` (PackReader over its packs);
 *   - isomorphic-git's `indexPack` in a copy of the base repository;
 *   - the gateway's whole inspection of the push: `indexPack` (with its strict object checks) and
 *     then the change set over the pushed pack and the base repository as the mirror;
 *
 *   - `git log --raw -M --no-abbrev <new> --not <old>` in a repository holding both (what git
 *     does that comes closest to the change set: every commit's file changes, renames found),
 *     against the change-set stage of the whole inspection;
 *
 * each in its own child process (wall time and peak RSS per run; medians of `--runs`), first on
 * the synthetic thin push, then (given `--repo` and `--range`, see history.ts) on the thin push of
 * a real repository's range; then pushgate's and git's indexing of a ~200 MB full pack. Prints
 * markdown tables and writes them to docs/BENCHMARKS.md under "Pack inspection" (other sections
 * are left alone), with the goal rows for the page's summary.
 *
 *   npx tsx scripts/bench/pack.ts [--runs 3] [--skip-isogit] [--skip-large] [--large-mb 225] [--no-write]
 *       [--repo <bare git dir> --range <old>..<new> [--history-runs N] [--history-name owner/name]]
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { createReadStream, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { DEFAULT_LIMITS, type Oid } from '@pushgate/core';
import { buildChangeSet, type ChangeSetOptions } from '@pushgate/changes';
import { GitDirObjectStore, PushedPackStore, checkObject } from '@pushgate/objects';
import { PackReader, indexPack, type RawObject } from '@pushgate/pack';
import { HISTORY_HINT, HISTORY_OPTIONS, ensureHistory, historySource, shownHistoryArgs, type HistoryPush } from './history';
import { goalCell, writeGoals, writeSection, type Goal } from './page';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SELF = fileURLToPath(import.meta.url);

/** One measured run. */
interface Run {
  readonly ms: number;
  readonly rssMB: number;
  readonly detail?: Record<string, unknown>;
}

const GIT_ENV: NodeJS.ProcessEnv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };

function git(cwd: string, args: readonly string[], input?: Buffer): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, input, encoding: 'utf8', maxBuffer: 1 << 28 });
}

const packsOf = (repo: string) =>
  readdirSync(join(repo, 'objects/pack'))
    .filter((f) => f.endsWith('.pack'))
    .map((f) => join(repo, 'objects/pack', f));

/** A fresh bare repository sharing (hard links) the packs of `repo`. */
function copyRepo(repo: string, into: string): string {
  mkdirSync(into, { recursive: true });
  git(into, ['init', '-q', '--bare']);
  for (const pack of packsOf(repo)) {
    for (const ext of ['.pack', '.idx']) {
      const src = pack.replace(/\.pack$/, ext);
      linkSync(src, join(into, 'objects/pack', src.split('/').pop()!));
    }
  }
  return into;
}

/**
 * Runs a command under /usr/bin/time; wall time measured here, peak RSS from time(1). With
 * `discard`, its output is read and counted but not kept (git log's is tens of MB).
 */
async function timed(cmd: string, args: readonly string[], opts: { cwd: string; stdinFile?: string; env?: NodeJS.ProcessEnv; discard?: boolean }): Promise<Run & { stdout: string }> {
  const report = join(mkdtempSync(join(tmpdir(), 'bench-time-')), 'time');
  const t0 = performance.now();
  const stdout = await new Promise<string>((resolveRun, reject) => {
    const child = spawn('/usr/bin/time', ['-o', report, '-f', '%M', cmd, ...args], {
      cwd: opts.cwd,
      env: opts.env ?? GIT_ENV,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    let bytes = 0;
    child.stdout.on('data', (d: Buffer) => {
      bytes += d.length;
      if (!opts.discard) out += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolveRun(opts.discard ? String(bytes) : out) : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))));
    if (opts.stdinFile) createReadStream(opts.stdinFile).pipe(child.stdin);
    else child.stdin.end();
  });
  const ms = performance.now() - t0;
  const rssKB = Number(readFileSync(report, 'utf8').trim().split('\n').pop());
  rmSync(dirname(report), { recursive: true, force: true });
  return { ms, rssMB: rssKB / 1024, stdout };
}

/**
 * This script bundled by esbuild, as the gateway runs (dist/pushgate.js): under tsx, the loader
 * thread alone adds ~35 MB of RSS and CPU time that the gateway does not have. Written under
 * .bench/ so that the bundle's third-party imports resolve from node_modules.
 */
const CHILD_BUNDLE = join(ROOT, '.bench', 'bench-pack-child.mjs');

async function bundleChild(): Promise<void> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  await build({
    entryPoints: [SELF],
    outfile: CHILD_BUNDLE,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: Object.keys(pkg.dependencies ?? {}),
    logLevel: 'warning',
    banner: { js: "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);" },
  });
}

/** Runs the bundled script as a child in `mode`; the child reports its own timing and peak RSS. */
async function child(mode: string, args: Record<string, string>, nodeFlags: readonly string[] = []): Promise<Run> {
  const argv = [...nodeFlags, CHILD_BUNDLE, '--child', mode, ...Object.entries(args).flatMap(([k, v]) => [`--${k}`, v])];
  const { stdout } = await timed(process.execPath, argv, { cwd: ROOT, env: process.env });
  const line = stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as Run;
}

// ---------------------------------------------------------------- child modes

async function runOurs(pack: string, base: string | undefined, idxOut: string): Promise<void> {
  const t0 = performance.now();
  const readers = base ? packsOf(base).map((p) => PackReader.open(p, p.replace(/\.pack$/, '.idx'), DEFAULT_LIMITS)) : [];
  const external = (oid: Oid): RawObject | undefined => {
    for (const r of readers) {
      const o = r.read(oid);
      if (o) return o;
    }
    return undefined;
  };
  const result = await indexPack(pack, { limits: DEFAULT_LIMITS, external, idxPath: idxOut });
  const ms = performance.now() - t0;
  for (const r of readers) r.close();
  const run: Run = {
    ms,
    rssMB: process.resourceUsage().maxRSS / 1024,
    detail: { ...result.timings, objects: result.objectCount, externalBases: result.externalBases.length, deltas: result.deltas, maxDeltaDepth: result.maxDeltaDepth },
  };
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

/**
 * The change-set caches the gateway uses (GATEWAY_CHANGESET_OPTIONS in packages/gateway/src/inspection.ts),
 * repeated here: importing the gateway would load its server dependencies into every child and
 * distort the RSS of the other rows.
 */
const GATEWAY_CHANGESET_OPTIONS: ChangeSetOptions = { treeCacheBytes: 16 * 1024 * 1024, blobCacheBytes: 8 * 1024 * 1024 };

/** The gateway's inspection of a push to main from `old` to `tip`: index (strict checks) then change set, with `base` as the mirror. */
async function runInspect(pack: string, base: string, idxOut: string, old: Oid, tip: Oid): Promise<void> {
  const t0 = performance.now();
  const mirror = GitDirObjectStore.open(base, { limits: DEFAULT_LIMITS });
  const indexed = await indexPack(pack, {
    limits: DEFAULT_LIMITS,
    external: (oid) => mirror.read(oid),
    onObject: (o) => {
      if (o.type !== 'blob') checkObject(o.type, o.data, { oid: o.oid });
    },
    idxPath: idxOut,
  });
  const t1 = performance.now();
  const pushed = PushedPackStore.open(pack, indexed.idxPath, { limits: DEFAULT_LIMITS, base: mirror });
  const changeSet = await buildChangeSet({
    commands: [{ ref: 'refs/heads/main', oldOid: old, newOid: tip }],
    store: pushed.withBase(),
    mirror,
    mirrorGitDir: base,
    upstreamRefs: new Map([['refs/heads/main', old]]),
    limits: DEFAULT_LIMITS,
    options: GATEWAY_CHANGESET_OPTIONS,
  });
  const t2 = performance.now();
  pushed.close();
  mirror.close();
  const run: Run = { ms: t2 - t0, rssMB: process.resourceUsage().maxRSS / 1024, detail: { indexMs: t1 - t0, changesMs: t2 - t1, commits: changeSet.stats.commits } };
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

async function runIsogit(gitdir: string, filepath: string): Promise<void> {
  const isogit = await import('isomorphic-git');
  const fs = await import('node:fs');
  const t0 = performance.now();
  const { oids } = await isogit.indexPack({ fs, dir: gitdir, gitdir, filepath });
  const ms = performance.now() - t0;
  process.stdout.write(`${JSON.stringify({ ms, rssMB: process.resourceUsage().maxRSS / 1024, detail: { objects: oids.length } })}\n`);
}

// ---------------------------------------------------------------- the benchmark

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
/**
 * Most of indexPack's peak RSS is short-lived garbage (per-object buffers) waiting for a young-
 * generation collection (live set after a forced GC: ~40 MB of buffers, ~4 MB of heap); a smaller
 * young generation collects it sooner. The gateway runs with it (bin/pushgate.js); indexPack alone
 * is measured with and without it.
 */
const SMALL_YOUNG_GEN = '--max-semi-space-size=2';
/** Peak RSS of a bare `node` process on this machine (v20): what any Node program starts with. */
const NODE_BASELINE_MB = 43;
const mb = (x: number) => `${Math.round(x)} MB`;
const SECTION = '## Pack inspection';
/** Goals (medians): whole inspection / git index-pack --fix-thin, per input; change set / git log everywhere. */
const WHOLE_GOAL = { synthetic: 1.0, history: 1.5 } as const;
const CHANGES_GOAL = 1.0;

interface Row {
  readonly tool: string;
  readonly runs: Run[];
}

/** A base repository and a thin push on it, synthetic or from a real history. */
interface ThinPush {
  readonly baseDir: string;
  /** A repository holding base and pushed history (where git log runs). */
  readonly fullDir: string;
  readonly packPath: string;
  readonly baseTip: string;
  readonly tip: string;
}

/** Every tool's runs on one thin push. */
interface ThinResult {
  readonly git: Row;
  readonly ours: Row;
  readonly inspect: Row;
  readonly log: Row;
  readonly iso?: Row;
  /** Entries in pushgate's index, and the bases git's --fix-thin appended. */
  readonly entries: number;
  readonly appended: number;
}

const msOf = (row: Row) => median(row.runs.map((r) => r.ms));
const rssOf = (row: Row) => median(row.runs.map((r) => r.rssMB));
const detailOf = (row: Row, key: string) => median(row.runs.map((r) => r.detail![key] as number));

/** Runs every tool `runs` times on `push`, interleaved, and checks that the two indexes agree. */
async function measureThin(push: ThinPush, runs: number, work: string, label: string, isogit: boolean): Promise<ThinResult> {
  const log = (s: string) => process.stderr.write(`${label}: ${s}\n`);
  const gitRow: Row = { tool: 'git index-pack --fix-thin --stdin', runs: [] };
  const ours: Row = { tool: 'pushgate indexPack (external = base repo)', runs: [] };
  const iso: Row = { tool: 'isomorphic-git indexPack', runs: [] };
  const inspect: Row = { tool: `pushgate's whole inspection: indexPack (strict object checks) + change set, \`node ${SMALL_YOUNG_GEN}\``, runs: [] };
  const gitLog: Row = { tool: 'git log --raw -M --no-abbrev <new> --not <old>', runs: [] };
  let gitIdx = '';
  let oursIdx = '';
  for (let i = 0; i < runs; i++) {
    // Interleaved, so a noisy moment on the shared machine is spread across the tools.
    const repo = copyRepo(push.baseDir, join(work, `${label}-git-${i}`));
    const g = await timed('git', ['index-pack', '--fix-thin', '--stdin'], { cwd: repo, stdinFile: push.packPath });
    gitRow.runs.push(g);
    gitIdx = join(repo, 'objects/pack', `pack-${g.stdout.trim().split(/\s+/).pop()}.idx`);
    log(`git run ${i + 1}: ${secs(g.ms)}, ${mb(g.rssMB)}`);

    oursIdx = join(work, `${label}-ours-${i}.idx`);
    const o = await child('ours', { pack: push.packPath, base: push.baseDir, idx: oursIdx });
    ours.runs.push(o);
    log(`pushgate run ${i + 1}: ${secs(o.ms)}, ${mb(o.rssMB)} ${JSON.stringify(o.detail)}`);

    // With the gateway's own node flag (bin/pushgate.js), as the gateway inspects.
    const whole = await child('inspect', { pack: push.packPath, base: push.baseDir, idx: join(work, `${label}-inspect-${i}.idx`), old: push.baseTip, tip: push.tip }, [SMALL_YOUNG_GEN]);
    inspect.runs.push(whole);
    log(`pushgate inspection run ${i + 1}: ${secs(whole.ms)}, ${mb(whole.rssMB)} ${JSON.stringify(whole.detail)}`);

    const l = await timed('git', ['log', '--raw', '-M', '--no-abbrev', push.tip, '--not', push.baseTip], { cwd: push.fullDir, discard: true });
    gitLog.runs.push({ ms: l.ms, rssMB: l.rssMB, detail: { bytes: Number(l.stdout) } });
    log(`git log run ${i + 1}: ${secs(l.ms)}, ${mb(l.rssMB)}, ${(Number(l.stdout) / 1e6).toFixed(1)} MB of output`);

    if (isogit) {
      const isoRepo = copyRepo(push.baseDir, join(work, `${label}-iso-${i}`));
      linkSync(push.packPath, join(isoRepo, 'objects/pack/pack-thin.pack'));
      const r = await child('isogit', { gitdir: isoRepo, filepath: 'objects/pack/pack-thin.pack' });
      iso.runs.push(r);
      log(`isomorphic-git run ${i + 1}: ${secs(r.ms)}, ${mb(r.rssMB)}`);
      rmSync(isoRepo, { recursive: true, force: true });
    }
  }
  // The same work: git's --fix-thin index lists our entries plus the bases it appended.
  const oursSet = new Set(git(work, ['show-index'], readFileSync(oursIdx)).trim().split('\n'));
  const theirs = new Set(git(work, ['show-index'], readFileSync(gitIdx)).trim().split('\n'));
  const missing = [...oursSet].filter((line) => !theirs.has(line));
  if (missing.length > 0) throw new Error(`${label}: pushgate's index differs from git's: ${missing.length} entries, e.g. ${missing[0]}`);
  log(`indexes agree: ${oursSet.size} entries (git's has ${theirs.size - oursSet.size} appended bases)`);
  return { git: gitRow, ours, inspect, log: gitLog, ...(iso.runs.length ? { iso } : {}), entries: oursSet.size, appended: theirs.size - oursSet.size };
}

/** The tools' table for one thin push, ratios against git index-pack. */
function toolsTable(r: ThinResult): string[] {
  const gitMs = msOf(r.git);
  const rows = [r.git, r.ours, r.inspect, ...(r.iso ? [r.iso] : [])];
  return [
    '| tool | wall time (median) | vs git index-pack | peak RSS (median) | runs (s) |',
    '|---|---:|---:|---:|---|',
    ...rows.map((row) => `| ${row.tool} | ${secs(msOf(row))} | ${(msOf(row) / gitMs).toFixed(2)}× | ${mb(rssOf(row))} | ${row.runs.map((x) => (x.ms / 1000).toFixed(2)).join(', ')} |`),
  ];
}

/** The change set's stage of the whole inspection against git log, per run paired and as medians. */
function changesRatio(r: ThinResult): number {
  return detailOf(r.inspect, 'changesMs') / msOf(r.log);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      'history-runs': { type: 'string' },
      'skip-isogit': { type: 'boolean', default: false },
      'skip-large': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      // The generator lands at ~0.9 of its target once repacked: this makes a ~200 MB pack.
      'large-mb': { type: 'string', default: '225' },
      ...HISTORY_OPTIONS,
      child: { type: 'string' },
      pack: { type: 'string' },
      base: { type: 'string' },
      idx: { type: 'string' },
      gitdir: { type: 'string' },
      filepath: { type: 'string' },
      old: { type: 'string' },
      tip: { type: 'string' },
    },
  });
  if (values.child === 'ours') return runOurs(values.pack!, values.base, values.idx!);
  if (values.child === 'inspect') return runInspect(values.pack!, values.base!, values.idx!, values.old as Oid, values.tip as Oid);
  if (values.child === 'isogit') return runIsogit(values.gitdir!, values.filepath!);

  const runs = Number(values.runs);
  const historyRuns = values['history-runs'] === undefined ? runs : Number(values['history-runs']);
  if (!(Number.isInteger(runs) && runs > 0 && Number.isInteger(historyRuns) && historyRuns > 0)) throw new Error('--runs, --history-runs: positive integers');
  const source = historySource(values);
  const cpu = cpus();
  const log = (s: string) => process.stderr.write(`${s}\n`);
  if (source === undefined) log(`pack: no public history this run: ${HISTORY_HINT}`);
  await bundleChild();
  // Imported here, not at the top: bundled into the child, the generator's command-line entry
  // point would see the bundle's own path as its module path and run.
  const { ensurePush, ensureRepo } = await import('../synth/repo');
  const push = await ensurePush(
    { seed: 1, commits: 3000, packBytes: 25e6 },
    { seed: 2, commits: 6000, packBytes: 40e6 },
    log,
  );
  const history: HistoryPush | undefined = source === undefined ? undefined : await ensureHistory(source, log);
  const work = mkdtempSync(join(tmpdir(), 'bench-pack-'));
  try {
    const basePacks = packsOf(push.baseDir);
    const baseBytes = basePacks.reduce((n, p) => n + statSync(p).size, 0);
    log(`thin pack: ${push.packPath} (${(push.packBytes / 1e6).toFixed(1)} MB, ${push.packObjects} objects, ${push.pushCommits} commits)`);
    const synth = await measureThin(push, runs, work, 'synthetic', !values['skip-isogit']);
    const hist = history === undefined ? undefined : await measureThin(history, historyRuns, work, 'history', false);

    const gitMs = msOf(synth.git);
    const oursMs = msOf(synth.ours);
    const d0 = synth.ours.runs[0].detail!;
    const stage = (k: string) => secs(detailOf(synth.ours, k));
    const wholeRatio = msOf(synth.inspect) / gitMs;
    const goals: Goal[] = [
      { what: 'whole inspection (index + change set) / `git index-pack --fix-thin` on the same pack', on: 'synthetic', measured: wholeRatio, limit: WHOLE_GOAL.synthetic, unit: 'x', section: SECTION },
      ...(hist ? [{ what: 'whole inspection (index + change set) / `git index-pack --fix-thin` on the same pack', on: `public history (${history!.name} ${history!.range})`, measured: msOf(hist.inspect) / msOf(hist.git), limit: WHOLE_GOAL.history, unit: 'x' as const, section: SECTION }] : []),
      { what: 'change set alone / `git log --raw -M --no-abbrev <range>`', on: 'synthetic', measured: changesRatio(synth), limit: CHANGES_GOAL, unit: 'x', section: SECTION },
      ...(hist ? [{ what: 'change set alone / `git log --raw -M --no-abbrev <range>`', on: `public history (${history!.name} ${history!.range})`, measured: changesRatio(hist), limit: CHANGES_GOAL, unit: 'x' as const, section: SECTION }] : []),
    ];

    let large: string[] = [];
    if (!values['skip-large']) {
      const repo = await ensureRepo({ seed: 3, commits: 20_000, packBytes: Number(values['large-mb']) * 1e6 }, log);
      const [pack] = packsOf(repo.dir);
      const bytes = statSync(pack).size;
      log(`large pack: ${pack} (${(bytes / 1e6).toFixed(1)} MB, ${repo.objects} objects)`);
      const lg: Run[] = [];
      const lo: Run[] = [];
      const ls: Run[] = [];
      for (let i = 0; i < runs; i++) {
        const g = await timed('git', ['index-pack', '-o', join(work, `large-git-${i}.idx`), pack], { cwd: work });
        lg.push(g);
        log(`git large run ${i + 1}: ${secs(g.ms)}, ${mb(g.rssMB)}`);
        const o = await child('ours', { pack, idx: join(work, `large-ours-${i}.idx`) });
        lo.push(o);
        log(`pushgate large run ${i + 1}: ${secs(o.ms)}, ${mb(o.rssMB)}`);
        const small = await child('ours', { pack, idx: join(work, `large-ours-small-${i}.idx`) }, [SMALL_YOUNG_GEN]);
        ls.push(small);
        log(`pushgate large run ${i + 1} (${SMALL_YOUNG_GEN}): ${secs(small.ms)}, ${mb(small.rssMB)}`);
      }
      const lgMs = median(lg.map((r) => r.ms));
      const loMs = median(lo.map((r) => r.ms));
      const identical = readFileSync(join(work, 'large-git-0.idx')).equals(readFileSync(join(work, 'large-ours-0.idx')));
      const loRss = median(lo.map((r) => r.rssMB));
      large = [
        '',
        `A full (non-thin) pack of ${(bytes / 1e6).toFixed(0)} MB, ${repo.objects} objects (\`ensureRepo\` seed 3, ${repo.commits} commits), as an initial push of a large repository would send:`,
        '',
        '| tool | wall time (median) | vs git | peak RSS (median) | runs (s) |',
        '|---|---:|---:|---:|---|',
        `| git index-pack | ${secs(lgMs)} | 1.00× | ${mb(median(lg.map((r) => r.rssMB)))} | ${lg.map((r) => (r.ms / 1000).toFixed(2)).join(', ')} |`,
        `| pushgate indexPack | ${secs(loMs)} | ${(loMs / lgMs).toFixed(2)}× | ${mb(loRss)} | ${lo.map((r) => (r.ms / 1000).toFixed(2)).join(', ')} |`,
        `| pushgate indexPack, \`node ${SMALL_YOUNG_GEN}\` | ${secs(median(ls.map((r) => r.ms)))} | ${(median(ls.map((r) => r.ms)) / lgMs).toFixed(2)}× | ${mb(median(ls.map((r) => r.rssMB)))} | ${ls.map((r) => (r.ms / 1000).toFixed(2)).join(', ')} |`,
        '',
        `The two indexes are ${identical ? 'byte-identical' : 'NOT byte-identical'}.`,
        '',
        `Indexing alone (scan, resolve, verify every id, write the index) against git: ${(oursMs / gitMs).toFixed(2)}× on the synthetic thin push${hist ? `, ${(msOf(hist.ours) / msOf(hist.git)).toFixed(2)}× on the public history's` : ''}, ${(loMs / lgMs).toFixed(2)}× on the large pack. Peak RSS ≤ 300 MB on a ~200 MB push: the indexing process alone peaks at ${mb(loRss)} (~${mb(NODE_BASELINE_MB)} of it Node itself); the gateway's peak on such a push, with its change set, is measured under [Push through the gateway](#push-through-the-gateway).`,
      ];
    }

    const date = new Date().toISOString().slice(0, 10);
    const command = `npx tsx scripts/bench/pack.ts --runs ${runs}${values['skip-isogit'] ? ' --skip-isogit' : ''}${values['skip-large'] ? ' --skip-large' : ''}${source ? ` ${shownHistoryArgs(source)}${historyRuns !== runs ? ` --history-runs ${historyRuns}` : ''}` : ''}`;
    const historyPart: string[] =
      hist && history
        ? [
            '',
            `**Public history**: the thin pack \`git push\` sends for ${history.name} ${history.range} (\`git pack-objects --thin --revs --stdout\` of \`<new> ^<old>\`: ${history.pushCommits} commits, ${history.pushMerges} of them merges) onto a base holding the ${history.baseCommits} commits up to the range's start (scripts/bench/history.ts): ${(history.packBytes / 1e6).toFixed(1)} MB, ${history.packObjects} objects (${hist.appended} bases from the ${(history.baseBytes / 1e6).toFixed(1)} MB base repository), ${historyRuns} run${historyRuns === 1 ? '' : 's'}:`,
            '',
            ...toolsTable(hist),
            '',
            `The whole inspection: index with object checks ${secs(detailOf(hist.inspect, 'indexMs'))}, change set of ${hist.inspect.runs[0].detail!.commits as number} commits ${secs(detailOf(hist.inspect, 'changesMs'))}. The indexes agree (${hist.entries} entries).`,
          ]
        : ['', `**Public history**: not measured in this run (${HISTORY_HINT}).`];
    const changeRows = [
      ['synthetic', synth],
      ...(hist && history ? [[`public history (${history.name} ${history.range})`, hist] as const] : []),
    ] as const;
    const section = [
      SECTION,
      '',
      `Measured ${date} with \`${command}\` on ${cpu.length} × ${cpu[0]?.model.trim()} (a shared machine: quote medians), Node ${process.version}, ${git(work, ['--version']).trim()}.`,
      `Each tool runs in its own process (pushgate's and isomorphic-git's from an esbuild bundle of the benchmark, as the gateway runs); wall time is around the indexing (for git: the whole \`git index-pack\` process), peak RSS is the whole process's.`,
      '',
      `**Synthetic**: the thin pack \`git push\` sends for ${push.pushCommits} commits on top of a ${push.base.commits}-commit base (\`ensurePush\` in scripts/synth/repo.ts): ${(push.packBytes / 1e6).toFixed(1)} MB, ${push.packObjects} objects (${(d0.deltas as { ofs: number }).ofs} OFS and ${(d0.deltas as { ref: number }).ref} REF deltas, ${d0.externalBases} bases from the ${(baseBytes / 1e6).toFixed(1)} MB base repository, longest chain ${d0.maxDeltaDepth}):`,
      '',
      ...toolsTable(synth),
      '',
      `pushgate's stages (medians): scan ${stage('scanMs')}, resolve ${stage('resolveMs')}, write index ${stage('writeIndexMs')}; the whole inspection: index with object checks ${secs(detailOf(synth.inspect, 'indexMs'))}, change set of ${synth.inspect.runs[0].detail!.commits as number} commits ${secs(detailOf(synth.inspect, 'changesMs'))}. Its index lists the same entries (id, offset, CRC32) as git's; git's has the ${synth.appended} bases it appends to the pack in addition. git index-pack runs its resolving on ${cpu.length} threads; pushgate's indexPack runs on one (the event loop's, yielding every ~10 ms), without worker threads.`,
      ...historyPart,
      '',
      `**The change set alone against \`git log --raw -M --no-abbrev <new> --not <old>\`** (run in a repository holding both; git lists every non-merge commit's file changes with renames found, the nearest thing git does to a change set): the change set is the change-set stage of the whole inspection above.`,
      '',
      '| on | git log (median) | its output | change set (median) | ratio | goal |',
      '|---|---:|---:|---:|---:|---|',
      ...changeRows.map(([on, r]) => `| ${on} | ${secs(msOf(r.log))} | ${(detailOf(r.log, 'bytes') / 1e6).toFixed(1)} MB | ${secs(detailOf(r.inspect, 'changesMs'))} | **${changesRatio(r).toFixed(2)}×** | ${goalCell({ measured: changesRatio(r), limit: CHANGES_GOAL, unit: 'x' })} |`),
      '',
      'Why the change set costs ~5× `git log --raw -M`, and what it would take: git\'s log shows no diff for merges, while the change set diffs every merge against its first parent (on the public history 2,395 merges, each bringing its topic branch\'s changes once more) and looks the paths it changes up in its other parents; it reads every changed blob\'s size from its object header (for size rules; git\'s raw output has none), in JavaScript on one thread, and it reads trees through the pack reader, which copies each resolved object into its cache and out again (about an eighth of its time). Sizes read on demand, trees parsed in place in the reader\'s cache, and rename detection\'s similarity in a worker thread are the next steps; without the first-parent diff of merges (which policy\'s path rules need) it would already be within ~3×.',
      '',
      '**Goals** (medians of this run):',
      '',
      '| | on | measured | goal |',
      '|---|---|---:|---|',
      ...goals.map((g) => `| ${g.what} | ${g.on} | **${g.measured.toFixed(2)}×** | ${goalCell(g)} |`),
      ...large,
      '',
    ].join('\n');
    process.stdout.write(`\n${section}\n`);
    if (!values['no-write']) {
      await writeSection(SECTION, section);
      await writeGoals('pack', goals);
      log(`wrote "${SECTION}" in the benchmarks page`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
