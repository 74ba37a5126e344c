/**
 * Policy's cost next to the inspection it follows: on the synthetic thin push (the pack
 * benchmark's) and, given `--repo` and `--range`, on a real public history's thin push, each run
 * indexes the pack (strict object checks, thin bases from the base repository), builds the change
 * set, then judges it with fixtures/policy/recommended.yaml: the content scan (each new blob read
 * once, secrets looked for, added lines asked only where something matched) and evaluate. Reported
 * with medians: policy time / inspection time (goal ≤ 20 %) and the content scan's throughput in
 * MB of scanned blob content per second (goal ≥ 50 MB/s).
 *
 *   npx tsx scripts/bench/policy.ts [--runs 3] [--no-write] [--repo <bare git dir> --range <old>..<new>]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_LIMITS, type Oid } from '@pushgate/core';
import { ChangeContent, buildChangeSet, type ChangeSetOptions } from '@pushgate/changes';
import { GitDirObjectStore, PushedPackStore, checkObject } from '@pushgate/objects';
import { indexPack } from '@pushgate/pack';
import { BlobScanPool, compilePolicy, evaluate, scanContent, type BlobPrescan } from '@pushgate/policy';
import { load, machine, median, writeGoals, writeSection, type Goal } from './common';
import { HISTORY_HINT, HISTORY_OPTIONS, ensureHistory, historySource, shownHistoryArgs } from './history';
import { ROOT } from './page';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, 'no-write': { type: 'boolean', default: false }, 'no-prescan': { type: 'boolean', default: false }, ...HISTORY_OPTIONS, help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  process.stdout.write('Usage: npx tsx scripts/bench/policy.ts [--runs 3] [--no-write] [--repo <bare git dir> --range <old>..<new>]\n');
  process.exit(0);
}
const runs = Number(values.runs);
/** Without the prescan (--no-prescan), the whole scan runs after the change set, as before it existed. */
const prescanning = !values['no-prescan'];
const source = historySource(values);
const log = (s: string): void => void process.stderr.write(`${s}\n`);
const SECTION = '## Policy';
const GOALS = { share: 0.2, scanMBps: 50 } as const;
const POLICY_FILE = 'fixtures/policy/recommended.yaml';
/** The caches the gateway runs the change set with (GATEWAY_CHANGESET_OPTIONS in packages/gateway/src/inspection.ts). */
const OPTIONS: ChangeSetOptions = { treeCacheBytes: 16 * 1024 * 1024, blobCacheBytes: 8 * 1024 * 1024 };

interface Run {
  readonly inspectMs: number;
  /** Main-thread time of the policy: handing blobs to the prescan during indexing, then the scan after the change set. */
  readonly scanMs: number;
  /** Of scanMs, the handover during indexing, and the wait for the worker after the change set. */
  readonly handoverMs: number;
  readonly waitMs: number;
  /** Time the prescan's worker spent scanning (beside the inspection, on the other core). */
  readonly workerMs: number;
  /** Blobs answered by the prescan, and blobs left for the scan after the change set. */
  readonly ahead: number;
  readonly left: number;
  readonly evaluateMs: number;
  readonly scannedBytes: number;
  readonly decision: string;
  readonly reasons: number;
  readonly commits: number;
  readonly fileChanges: number;
}

/** One inspection of `pack` onto `base` (main from `old` to `tip`), then the policy's judgement. */
async function once(pack: string, base: string, old: Oid, tip: Oid, idxPath: string, pool: BlobScanPool | undefined): Promise<Run> {
  const policy = compilePolicy(parseYaml(readFileSync(join(ROOT, POLICY_FILE), 'utf8')));
  const prescan: BlobPrescan | undefined = pool?.begin();
  const t0 = performance.now();
  const mirror = GitDirObjectStore.open(base, { limits: DEFAULT_LIMITS });
  const indexed = await indexPack(pack, {
    limits: DEFAULT_LIMITS,
    external: (oid) => mirror.read(oid),
    onObject: (o) => {
      if (o.type !== 'blob') checkObject(o.type, o.data, { oid: o.oid });
      else prescan?.add(o.oid, o.data);
    },
    idxPath,
  });
  prescan?.indexed({ packPath: pack, idxPath: indexed.idxPath, mirrorGitDir: base, limits: DEFAULT_LIMITS });
  const pushed = PushedPackStore.open(pack, indexed.idxPath, { limits: DEFAULT_LIMITS, base: mirror });
  try {
    const store = pushed.withBase();
    const changeSet = await buildChangeSet({
      commands: [{ ref: 'refs/heads/main', oldOid: old, newOid: tip }],
      store,
      mirror,
      mirrorGitDir: base,
      upstreamRefs: new Map([['refs/heads/main', old]]),
      limits: { ...DEFAULT_LIMITS, maxCommitsInspected: Math.max(DEFAULT_LIMITS.maxCommitsInspected, 100_000) },
      options: OPTIONS,
    });
    const t1 = performance.now();
    const content = new ChangeContent({ changeSet, store, mirror, options: OPTIONS });
    const prescanned = await prescan?.finish();
    const waitMs = performance.now() - t1;
    const findings = await scanContent({ changeSet, content, policy, prescanned });
    const t2 = performance.now();
    const handoverMs = prescanned?.stats.handoverMs ?? 0;
    const identity = { sub: 'bench', issuer: 'bench', email: 'bench@example.com', groups: [], agent: true };
    const decision = evaluate({ upstream: 'bench', repo: 'bench/repo.git', identity, pushOptions: [], changeSet, content: findings }, policy);
    const t3 = performance.now();
    return {
      // The handover ran inside indexing: it is policy's time, not inspection's.
      inspectMs: t1 - t0 - handoverMs,
      scanMs: t2 - t1 + handoverMs,
      handoverMs,
      waitMs,
      workerMs: prescanned?.stats.workerMs ?? 0,
      ahead: findings.scannedAhead ?? 0,
      left: prescanned?.stats.left ?? 0,
      evaluateMs: t3 - t2,
      scannedBytes: findings.scannedBytes,
      decision: decision.kind,
      reasons: decision.reasons.length,
      commits: changeSet.stats.commits,
      fileChanges: changeSet.stats.fileChanges,
    };
  } finally {
    pushed.close();
    mirror.close();
  }
}

interface Measured {
  readonly on: string;
  readonly runs: Run[];
}

async function measure(on: string, pack: string, base: string, old: string, tip: string): Promise<Measured> {
  const out: Run[] = [];
  // As the gateway runs it: one worker for every push, started before the first (see pushPolicy).
  const config = compilePolicy(parseYaml(readFileSync(join(ROOT, POLICY_FILE), 'utf8'))).config;
  const pool = prescanning ? new BlobScanPool(config, { onError: log }) : undefined;
  await pool?.begin().finish();
  try {
    for (let i = 0; i < runs; i++) {
      const r = await once(pack, base, old as Oid, tip as Oid, join(ROOT, '.bench', `policy-${process.pid}.idx`), pool);
      log(
        `${on} run ${i + 1}: inspection ${(r.inspectMs / 1000).toFixed(2)} s, scan ${(r.scanMs / 1000).toFixed(2)} s (handover ${r.handoverMs.toFixed(0)} ms, wait ${r.waitMs.toFixed(0)} ms, worker ${(r.workerMs / 1000).toFixed(2)} s, ${r.ahead} blobs ahead, ${r.left} left; ${(r.scannedBytes / 1e6).toFixed(1)} MB), evaluate ${r.evaluateMs.toFixed(0)} ms → ${r.decision} (${r.reasons} reasons)`,
      );
      out.push(r);
    }
  } finally {
    await pool?.close();
  }
  return { on, runs: out };
}

const med = (m: Measured, f: (r: Run) => number) => median(m.runs.map(f));
const policyMs = (r: Run) => r.scanMs + r.evaluateMs;
const mbps = (r: Run) => r.scannedBytes / 1e6 / (r.scanMs / 1000);

const { ensurePush } = await import('../synth/repo');
const synth = await ensurePush({ seed: 1, commits: 3000, packBytes: 25e6 }, { seed: 2, commits: 6000, packBytes: 40e6 }, log);
const measured: Measured[] = [await measure('synthetic thin push', synth.packPath, synth.baseDir, synth.baseTip, synth.tip)];
if (source === undefined) log(`policy: no public history this run: ${HISTORY_HINT}`);
else {
  const h = await ensureHistory(source, log);
  measured.push(await measure(`${h.name} ${h.range}`, h.packPath, h.baseDir, h.baseTip, h.tip));
}

const goals: Goal[] = measured.flatMap((m) => [
  { what: 'policy time (content scan + evaluate) / inspection (index + change set), recommended rules', on: m.on, measured: med(m, (r) => policyMs(r) / r.inspectMs), limit: GOALS.share, unit: 'x', section: SECTION },
]);
const rows = measured.map(
  (m) =>
    `| ${m.on} | ${m.runs[0].commits} | ${m.runs[0].fileChanges} | ${(med(m, (r) => r.inspectMs) / 1000).toFixed(2)} s | ${(med(m, (r) => r.scanMs) / 1000).toFixed(2)} s | ${med(m, (r) => r.evaluateMs).toFixed(0)} ms | **${(100 * med(m, (r) => policyMs(r) / r.inspectMs)).toFixed(1)} %** (≤ 20 % ${med(m, (r) => policyMs(r) / r.inspectMs) <= GOALS.share ? '✓' : '✗'}) | ${(med(m, (r) => r.scannedBytes) / 1e6).toFixed(1)} MB | **${med(m, mbps).toFixed(0)} MB/s** (≥ 50 ${med(m, mbps) >= GOALS.scanMBps ? '✓' : '✗'}) | ${m.runs[0].decision} |`,
);
const gitVersion = (await import('node:child_process')).execFileSync('git', ['--version'], { encoding: 'utf8' }).trim();
const section = [
  SECTION,
  '',
  `Command: \`npx tsx scripts/bench/policy.ts --runs ${runs}${source ? ` ${shownHistoryArgs(source)}` : ''}\` (${new Date().toISOString().slice(0, 10)}; ${machine(gitVersion)}; load average ${load().toFixed(1)} at the end).`,
  '',
  `Each run inspects the push as the gateway does (index with strict object checks, change set with the gateway's caches), then judges it with [\`${POLICY_FILE}\`](../${POLICY_FILE}): the content scan reads each blob the push brings once (blobs the upstream already has are skipped), looks for secrets with the built-in detectors, and asks for a file's added lines only where something matched; evaluate then runs every rule. Medians of ${runs} runs:`,
  '',
  '| push | commits | file changes | inspection | content scan | evaluate | policy / inspection | scanned | scan throughput | decision |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ...rows,
  '',
  'The scan throughput counts the bytes of blob content read and scanned over the whole scan (reading the blobs out of the pack included).',
  '',
  'Why the policy/inspection goal is missed, and what it would take: the content scan reads every blob the push brings whole — ~280–330 MB here, ten times the packs\' size, since most of those blobs are small edits stored as deltas — while the inspection before it touches blob content only for rename detection. The keyword prefilter keeps the detectors\' cost flat, so the scan runs at the speed of reading and lower-casing bytes. Getting under 20 % would take scanning only what changed for files whose previous version the push also carries (a line diff is ~75 µs a file; scan only its added lines), running the scan in a worker thread beside the change set, or a path allowlist for vendored and generated trees.',
].join('\n');
process.stdout.write(`${section}\n`);
if (!values['no-write']) {
  await writeSection(SECTION, section);
  await writeGoals('policy', goals);
}
