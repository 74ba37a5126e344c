/**
 * How fast lineDiff is, against jsdiff's structuredPatch and git's own histogram diff, on a
 * generated corpus of source-like files with realistic edits. Run:
 *
 *   npx tsx packages/changes/src/linediff.bench.ts [pairs=2000] [repository [commits=1000]]
 *
 * With a repository, it also diffs the modified files of its last non-merge commits and checks
 * the counts against `git log --numstat --histogram`.
 *
 * git runs once per batch of pairs (`git diff --no-index --histogram` of two directories), so
 * its process start is paid per batch; the start-up of a one-file diff is measured and taken
 * off. Its numbers include reading the files and writing the patch text to a pipe.
 *
 * Each pair (and each git batch) is timed REPEAT times and the fastest run kept, so that other
 * processes on a shared machine blur the numbers less.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { structuredPatch } from 'diff';
import { lineDiff } from './linediff';
import { sourceEdits } from './source-edits.test-support';

const PAIRS = Number(process.argv[2] ?? 2000);
const BATCH = 100;
const REPEAT = 3;

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sum = (xs: readonly number[]) => xs.reduce((n, x) => n + x, 0);
const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;

const corpus = sourceEdits({ seed: 2026, pairs: PAIRS, minLines: 200, maxLines: 3000, minEdits: 1, maxEdits: 20 });
const buffers = corpus.map(([a, b]) => [Buffer.from(a), Buffer.from(b)] as const);
const lines = sum(corpus.map(([a, b]) => a.split('\n').length + b.split('\n').length));
console.log(`${PAIRS} pairs, ${lines} lines in all, ${(sum(buffers.map(([a, b]) => a.length + b.length)) / 1e6).toFixed(1)} MB`);

/** Per-pair times of `run` over the corpus, after one warm-up pass. */
function timePairs(run: (k: number) => number): { perPair: number[]; changed: number } {
  for (let k = 0; k < Math.min(200, PAIRS); k++) run(k);
  const perPair: number[] = [];
  let changed = 0;
  for (let k = 0; k < PAIRS; k++) {
    let best = Infinity;
    for (let r = 0; r < REPEAT; r++) {
      const t = performance.now();
      const n = run(k);
      best = Math.min(best, performance.now() - t);
      if (r === 0) changed += n;
    }
    perPair.push(best);
  }
  return { perPair, changed };
}

const ours = timePairs((k) => {
  const d = lineDiff(buffers[k][0], buffers[k][1]);
  d.hunks();
  return d.added + d.removed;
});
const jsdiff = timePairs((k) => {
  const p = structuredPatch('a', 'b', corpus[k][0], corpus[k][1], undefined, undefined, { context: 3 });
  return p.hunks.reduce((n, h) => n + h.lines.filter((l) => l[0] === '+' || l[0] === '-').length, 0);
});

// git: batches of pairs in two directories.
const dir = mkdtempSync(join(tmpdir(), 'linediff-bench-'));
const env = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
function gitDiff(a: string, b: string): number {
  const t = performance.now();
  try {
    execFileSync('git', ['diff', '--no-index', '--histogram', '-U3', a, b], { cwd: dir, env, stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
  } catch (err) {
    if ((err as { status?: number }).status !== 1) throw err;
  }
  return performance.now() - t;
}
const batchTimes: number[] = [];
let startup = 0;
try {
  writeFileSync(join(dir, 'x'), 'one\n');
  writeFileSync(join(dir, 'y'), 'two\n');
  startup = median(Array.from({ length: 20 }, () => gitDiff('x', 'y')));
  for (let from = 0; from < PAIRS; from += BATCH) {
    const batch = join(dir, `batch${from}`);
    mkdirSync(join(batch, 'a'), { recursive: true });
    mkdirSync(join(batch, 'b'), { recursive: true });
    for (let k = from; k < Math.min(PAIRS, from + BATCH); k++) {
      writeFileSync(join(batch, 'a', `f${k}.c`), buffers[k][0]);
      writeFileSync(join(batch, 'b', `f${k}.c`), buffers[k][1]);
    }
    gitDiff(`batch${from}/a`, `batch${from}/b`); // warm the page cache
    batchTimes.push(Math.min(...Array.from({ length: REPEAT }, () => gitDiff(`batch${from}/a`, `batch${from}/b`))));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const gitPerPair = batchTimes.map((t, i) => Math.max(0, t - startup) / Math.min(BATCH, PAIRS - i * BATCH));

const batchMeans = (perPair: number[]) => Array.from({ length: batchTimes.length }, (_, i) => sum(perPair.slice(i * BATCH, (i + 1) * BATCH)) / Math.min(BATCH, PAIRS - i * BATCH));
const row = (name: string, perPair: number[] | undefined, batches: number[], total: number) =>
  console.log(`${name.padEnd(28)} median/pair ${perPair ? us(median(perPair)).padStart(10) : '         -'}   ${batches.length > 1 ? 'median of batch means' : 'mean/pair'} ${us(median(batches)).padStart(10)}   total ${(total / 1000).toFixed(2)} s`);
row('lineDiff (histogram)', ours.perPair, batchMeans(ours.perPair), sum(ours.perPair));
row('jsdiff structuredPatch', jsdiff.perPair, batchMeans(jsdiff.perPair), sum(jsdiff.perPair));
row('git diff --histogram', undefined, gitPerPair, sum(batchTimes) - startup * batchTimes.length);
console.log(`git start-up taken off each batch: ${startup.toFixed(1)} ms; changed lines: ours ${ours.changed}, jsdiff ${jsdiff.changed}`);

// A real history, when a repository is given: each non-merge commit's modified files.
const REPO = process.argv[3];
if (REPO !== undefined) realHistory(REPO, Number(process.argv[4] ?? 1000));

function realHistory(repo: string, commits: number): void {
  const git = (args: readonly string[], input?: Buffer): Buffer => execFileSync('git', ['-C', repo, ...args], { env, input, maxBuffer: 1 << 30 });
  const log = git(['log', '--no-merges', '-n', String(commits), '--format=%x00%H', '--raw', '--no-abbrev', '--no-renames', 'HEAD']).toString('utf8');
  const pairs: { key: string; oldOid: string; newOid: string }[] = [];
  for (const chunk of log.split('\0').slice(1)) {
    const [commit, ...rest] = chunk.split('\n');
    for (const line of rest) {
      const m = /^:(100644|100755) (100644|100755) ([0-9a-f]{40}) ([0-9a-f]{40}) M\t(.*)$/.exec(line);
      if (m) pairs.push({ key: `${commit} ${m[5]}`, oldOid: m[3], newOid: m[4] });
    }
  }
  // Blobs, read at once with cat-file --batch.
  const batch = git(['cat-file', '--batch'], Buffer.from(pairs.flatMap((p) => [p.oldOid, p.newOid]).join('\n') + '\n'));
  const blobs = new Map<string, Buffer>();
  for (let at = 0; at < batch.length; ) {
    const eol = batch.indexOf(0x0a, at);
    const [oid, , size] = batch.toString('latin1', at, eol).split(' ');
    const start = eol + 1;
    blobs.set(oid, batch.subarray(start, start + Number(size)));
    at = start + Number(size) + 1;
  }
  const binary = (b: Buffer) => b.subarray(0, 8000).includes(0);
  const text = pairs.filter((p) => !binary(blobs.get(p.oldOid)!) && !binary(blobs.get(p.newOid)!));

  let t = performance.now();
  const numstat = git(['log', '--no-merges', '-n', String(commits), '--format=%x00%H', '--numstat', '--no-renames', '--histogram', 'HEAD']).toString('utf8');
  const gitMs = performance.now() - t;
  const expected = new Map<string, [number, number]>();
  for (const chunk of numstat.split('\0').slice(1)) {
    const [commit, ...rest] = chunk.split('\n');
    for (const line of rest) {
      const m = /^(\d+)\t(\d+)\t(.*)$/.exec(line);
      if (m) expected.set(`${commit} ${m[3]}`, [Number(m[1]), Number(m[2])]);
    }
  }

  const fastest = (run: () => void) => {
    let best = Infinity;
    for (let r = 0; r < REPEAT; r++) {
      const s = performance.now();
      run();
      best = Math.min(best, performance.now() - s);
    }
    return best;
  };
  let same = 0;
  let fewer = 0;
  let more = 0;
  for (const p of text) {
    const d = lineDiff(blobs.get(p.oldOid)!, blobs.get(p.newOid)!);
    const [added, removed] = expected.get(p.key) ?? [-1, -1];
    if (d.added === added && d.removed === removed) same++;
    else if (d.added + d.removed < added + removed) fewer++;
    else more++;
  }
  const oursTimes = text.map((p) => {
    const [a, b] = [blobs.get(p.oldOid)!, blobs.get(p.newOid)!];
    return fastest(() => lineDiff(a, b).hunks());
  });
  const jsdiffTimes = text.map((p) => {
    const [a, b] = [blobs.get(p.oldOid)!.toString('utf8'), blobs.get(p.newOid)!.toString('utf8')];
    return fastest(() => structuredPatch('a', 'b', a, b, undefined, undefined, { context: 3 }));
  });
  console.log(`\n${repo}: ${commits} commits, ${text.length} modified text files`);
  row('lineDiff (histogram)', oursTimes, [sum(oursTimes) / text.length], sum(oursTimes));
  row('jsdiff structuredPatch', jsdiffTimes, [sum(jsdiffTimes) / text.length], sum(jsdiffTimes));
  console.log(`git log --numstat --histogram    ${(gitMs / 1000).toFixed(2)} s for the whole log (tree diffs and blob reads included)`);
  console.log(`counts equal to git's: ${same}; fewer changed lines: ${fewer}; more: ${more}`);
}
