/**
 * Benchmark (not a test): what holding a push costs.
 *
 *   relay  a push the policy holds, then approved over the API: the time from the final approval
 *          (the API call returning) to the upstream's ref moving — the relayer noticing the
 *          approval, claiming it, reading the upstream's refs, decrypting the stored pack out of
 *          the database and sending it, and the upstream's index-pack — against the same push
 *          made straight to the same upstream (`git push` to the http-backend, the whole client
 *          process), alternating in one run; goal ≤ 1.2×. For a one-commit push and a ~20 MB one,
 *          through a child gateway (`pushgate serve`, as production runs it) on PostgreSQL and on
 *          embedded PGlite.
 *   store  a pending hold's cost in the store: `HoldStore.create` timed in this process with the
 *          same two pushes' packs (`git pack-objects` of the commit), and the bytes each hold
 *          takes: its row (`pg_column_size`), its encrypted chunks, and the growth of the holds
 *          tables with their indexes and TOAST (`pg_total_relation_size`) per hold.
 *
 * Writes the "Holds" section of docs/BENCHMARKS.md (only that section).
 *
 *   npm run build && npx tsx scripts/bench/holds.ts [--runs 5] [--database both|postgres|pglite]
 *       [--only relay,store] [--large-mb 20] [--no-write]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { issueToken, loadOrCreateSigningKeys } from '@pushgate/auth';
import { parseOid, type Oid } from '@pushgate/core';
import { createHoldStore, holdKeyFromBytes, type NewHold } from '@pushgate/holds';
import { migrate, openDatabase, type Database } from '@pushgate/store';
import { createGitEnv, defaultBundlePath, startGateway, startGitUpstream, type GitEnv, type GitUpstream, type StartedGateway } from '@pushgate/testkit';
import {
  createDatabase,
  databaseConfig,
  dropDatabase,
  load,
  machine,
  median,
  postgresAvailable,
  writeGoals,
  writeSection,
  type BenchDatabase,
  type Goal,
} from './common';

const SECTION = '## Holds';
const PARTS = ['relay', 'store'] as const;
type Part = (typeof PARTS)[number];
/** The relay of an approved push may take this much longer than the same push made direct. */
const GOAL_RATIO = 1.2;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    database: { type: 'string', default: 'both' },
    only: { type: 'string', default: PARTS.join(',') },
    'large-mb': { type: 'string', default: '20' },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
const USAGE = 'Usage: npx tsx scripts/bench/holds.ts [--runs 5] [--database both|postgres|pglite] [--only relay,store] [--large-mb 20] [--no-write]\n';
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const runs = Number(values.runs);
if (!(Number.isInteger(runs) && runs > 0)) throw new Error('--runs: a positive integer');
const largeMb = Number(values['large-mb']);
const parts = new Set(values.only.split(',').map((p) => p.trim()));
for (const p of parts) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`--only: unknown part ${p} (${PARTS.join(', ')})`);
const wants = (p: Part): boolean => parts.has(p);
const log = (s: string): void => void process.stderr.write(`${s}\n`);

const PUBLIC_URL = 'http://pushgate.bench';
const POLICY = { rules: [{ id: 'protected-deploy', paths: ['deploy/**'], action: 'hold', approvers: { groups: ['release-managers'], count: 1 } }] };
const FILES = { 'README.md': '# app\n', 'deploy/app.yaml': 'replicas: 1\n' };

/** The two pushes: one commit changing one line, and one adding ~20 MB of incompressible bytes. */
type Size = 'small' | 'large';
const SIZES: readonly Size[] = ['small', 'large'];
const sizeLabel = (s: Size): string => (s === 'small' ? 'one-commit push' : `~${largeMb} MB push`);

/** The same commit every run: the large file's bytes are made once (random, so the pack cannot shrink them). */
let largeBlob: Buffer | undefined;
async function commitChange(git: GitEnv, work: string, size: Size, i: number): Promise<string> {
  if (size === 'small') return git.commitFiles(work, { 'deploy/app.yaml': `replicas: ${i + 2}\n` }, 'scale');
  largeBlob ??= randomBytes(largeMb * 1024 * 1024);
  return git.commitFiles(work, { 'deploy/bundle.bin': largeBlob, 'deploy/app.yaml': `replicas: ${i + 2}\n` }, 'ship the bundle');
}

/** The id the upstream repository's `ref` points at, read from its files (no process spawned while timing). */
function refOf(repoDir: string, ref = 'refs/heads/main'): string | undefined {
  const loose = join(repoDir, ref);
  if (existsSync(loose)) {
    try {
      return readFileSync(loose, 'utf8').trim();
    } catch {
      // Renamed into place just now: read again.
    }
  }
  const packed = join(repoDir, 'packed-refs');
  if (!existsSync(packed)) return undefined;
  return /^([0-9a-f]{40}) (.+)$/gm.exec(readFileSync(packed, 'utf8').split('\n').find((l) => l.endsWith(` ${ref}`)) ?? '')?.[1];
}

/** Polls the ref every 2 ms; resolves with the time it was first seen at `oid`. */
async function refMoved(repoDir: string, oid: string, timeoutMs = 10 * 60_000): Promise<number> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    if (refOf(repoDir) === oid) return performance.now();
    if (performance.now() > until) throw new Error(`${repoDir}: main did not move to ${oid} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

interface Rig {
  readonly db: BenchDatabase;
  readonly upstream: GitUpstream;
  readonly gw: StartedGateway;
  readonly git: GitEnv;
  readonly secret: string;
  readonly pusher: string;
  readonly approver: string;
}

async function api(rig: Rig, method: 'GET' | 'POST', path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${rig.gw.url}/api/holds${path}`, {
    method,
    headers: { authorization: `Bearer ${rig.approver}`, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
    body: method === 'POST' ? '{}' : undefined,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function startRig(kind: BenchDatabase['kind']): Promise<Rig> {
  const db = await createDatabase(kind);
  const secret = `upstream-${randomBytes(16).toString('hex')}`;
  const upstream = await startGitUpstream({ auth: { username: 'x-access-token', password: secret } });
  const git = await createGitEnv();
  const gw = await startGateway({
    mode: 'child',
    config: {
      upstreams: [{ name: 'local', url: upstream.url, username: 'x-access-token', passwordEnv: 'LOCAL_UPSTREAM_TOKEN' }],
      publicUrl: PUBLIC_URL,
      log: { level: 'info' },
      policy: POLICY,
      ...databaseConfig(db),
    },
    env: { LOCAL_UPSTREAM_TOKEN: secret, PUSHGATE_HOLD_KEY: randomBytes(32).toString('base64') },
  });
  const keys = await loadOrCreateSigningKeys({ dataDir: gw.dataDir });
  const mint = (sub: string, groups: string[]) => issueToken(keys, { issuer: PUBLIC_URL, audience: 'pushgate', sub, groups, agentClaim: 'agent', ttl: '2h' });
  return { db, upstream, gw, git, secret, pusher: await mint('alice', ['developers']), approver: await mint('rita', ['release-managers']) };
}

async function stopRig(rig: Rig): Promise<void> {
  await rig.gw.stop();
  await rig.upstream.close();
  await rig.git.cleanup();
  await dropDatabase(rig.db);
}

interface RelayRun {
  /** Final approval's API call returning → the upstream's ref at the pushed commit. */
  readonly relayMs: number;
  /** The approval call itself. */
  readonly approveMs: number;
  /** The same push, straight to the upstream (the whole `git push`). */
  readonly directMs: number;
}

async function relayRun(rig: Rig, size: Size, i: number): Promise<RelayRun> {
  const held = `held-${size}-${i}.git`;
  const direct = `direct-${size}-${i}.git`;
  const heldDir = await rig.upstream.createRepo(held, { initialCommit: FILES });
  await rig.upstream.createRepo(direct, { initialCommit: FILES });
  const work = join(rig.git.dir, `work-${size}-${i}`);
  await rig.git.gitOk(['clone', '-q', rig.upstream.repoUrl(direct, { username: 'x-access-token', password: rig.secret }), work]);
  const tip = await commitChange(rig.git, work, size, i);

  const gatewayRemote = new URL(`${rig.gw.url}/local/${held}`);
  gatewayRemote.username = 'bench';
  gatewayRemote.password = rig.pusher;
  const viaGateway = async (): Promise<{ relayMs: number; approveMs: number }> => {
    const r = await rig.git.git(['push', '--porcelain', gatewayRemote.toString(), 'HEAD:refs/heads/main'], { cwd: work, timeoutMs: 30 * 60_000 });
    const id = /held for approval \(([a-z0-9]+)\)/.exec(`${r.stdout}\n${r.stderr}`)?.[1];
    if (id === undefined) throw new Error(`the push was not held:\n${r.stdout}\n${r.stderr}`);
    await rig.upstream.settled();
    const t0 = performance.now();
    const approved = await api(rig, 'POST', `/${id}/approve`);
    const t1 = performance.now();
    if (approved.status !== 200) throw new Error(`approve answered ${approved.status}: ${JSON.stringify(approved.body)}`);
    const moved = await refMoved(heldDir, tip);
    // Untimed: the hold's own record of it.
    for (;;) {
      const h = await api(rig, 'GET', `/${id}`);
      if (h.body.state === 'relayed') break;
      if (['stale', 'upstream-rejected'].includes(String(h.body.state))) throw new Error(`hold ${id} ended ${JSON.stringify(h.body)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { relayMs: moved - t1, approveMs: t1 - t0 };
  };
  const straight = async (): Promise<number> => {
    await rig.upstream.settled();
    const t0 = performance.now();
    await rig.git.gitOk(['push', '--quiet', 'origin', 'HEAD:refs/heads/main'], { cwd: work, timeoutMs: 30 * 60_000 });
    return performance.now() - t0;
  };
  // Alternating which goes first, so neither always finds a warmer cache.
  if (i % 2 === 0) {
    const g = await viaGateway();
    return { ...g, directMs: await straight() };
  }
  const directMs = await straight();
  return { ...(await viaGateway()), directMs };
}

interface RelayResult {
  readonly db: BenchDatabase['kind'];
  readonly size: Size;
  readonly runs: RelayRun[];
}

async function measureRelay(kind: BenchDatabase['kind']): Promise<RelayResult[]> {
  const rig = await startRig(kind);
  try {
    const out: RelayResult[] = [];
    for (const size of SIZES) {
      // Run 0 warms up (page cache, the gateway's first relay); it is not counted.
      const measured: RelayRun[] = [];
      for (let i = 0; i <= runs; i++) {
        const r = await relayRun(rig, size, i);
        log(`relay ${kind} ${size} run ${i}${i === 0 ? ' (warm-up)' : ''}: approval → ref ${r.relayMs.toFixed(0)} ms (approve call ${r.approveMs.toFixed(0)} ms), direct push ${r.directMs.toFixed(0)} ms`);
        if (i > 0) measured.push(r);
      }
      out.push({ db: kind, size, runs: measured });
    }
    return out;
  } finally {
    await stopRig(rig);
  }
}

interface StoreRun {
  readonly createMs: number;
  readonly packBytes: number;
  readonly rowBytes: number;
  readonly chunkBytes: number;
  readonly chunks: number;
}

interface StoreResult {
  readonly db: BenchDatabase['kind'];
  readonly size: Size;
  readonly runs: StoreRun[];
  /** Growth of pg_total_relation_size over the holds tables, per hold. */
  readonly perHoldTotal: number;
}

const HOLD_TABLES = ['holds', 'hold_pack_chunks', 'hold_approvals'];
/** How many small holds the store part makes (their bytes per hold are averaged over all). */
const SMALL_HOLDS = 100;

async function tablesBytes(db: Database): Promise<number> {
  let total = 0;
  for (const t of HOLD_TABLES) {
    const r = await db.query<{ n: string | number }>(`SELECT pg_total_relation_size('${t}') AS n`);
    total += Number(r.rows[0]?.n ?? 0);
  }
  return total;
}

/** The pack `git push` would send for `tip` onto `base` (objects of the commit the base lacks). */
function packOf(repo: string, base: string, tip: string, out: string): number {
  const pack = execFileSync('git', ['pack-objects', '--revs', '--stdout', '-q'], { cwd: repo, input: `${tip}\n^${base}\n`, maxBuffer: 1024 * 1024 * 1024 });
  writeFileSync(out, pack);
  return pack.length;
}

async function measureStore(kind: BenchDatabase['kind']): Promise<StoreResult[]> {
  const bench = await createDatabase(kind);
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-bench-holds-'));
  const git = await createGitEnv();
  let db: Database | undefined;
  try {
    db = await openDatabase(bench.kind === 'postgres' ? { url: bench.url, dataDir: dir } : { dataDir: join(dir, 'data') });
    await migrate(db);
    const store = createHoldStore({ db, key: holdKeyFromBytes(randomBytes(32)) });
    const repo = await git.initRepo();
    const base = await git.commitFiles(repo, FILES, 'initial');
    const out: StoreResult[] = [];
    for (const size of SIZES) {
      const tip = await commitChange(git, repo, size, 0);
      const packPath = join(dir, `${size}.pack`);
      const packBytes = packOf(repo, base, tip, packPath);
      await git.gitOk(['reset', '-q', '--hard', base], { cwd: repo });
      const hold: NewHold = {
        pushId: 'bench',
        upstream: 'local',
        repo: 'bench/app.git',
        pusher: { sub: 'alice', issuer: PUBLIC_URL, email: 'alice@example.com', groups: ['developers'], agent: false },
        commands: [{ ref: 'refs/heads/main', oldOid: oid(base), newOid: oid(tip) }],
        capabilities: ['report-status', 'side-band-64k', 'agent=git/2.39.5'],
        pushOptions: [],
        summary: { commits: 1, files: size === 'small' ? 1 : 2 },
        decision: {
          kind: 'hold',
          reasons: [{ rule: 'protected-deploy', mode: 'enforce', outcome: 'hold', condition: 'paths', message: 'changes deploy/app.yaml', ref: 'refs/heads/main', path: 'deploy/app.yaml' }],
          approvers: [{ groups: ['release-managers'], count: 1 }],
        },
      };
      const before = await tablesBytes(db);
      const measured: StoreRun[] = [];
      // Hold 0 warms up and is not counted in the times (its bytes are). Small holds are made by
      // the dozen, so that the tables' growth is not a page or two divided by a handful of rows.
      const n = size === 'small' ? Math.max(runs + 1, SMALL_HOLDS) : runs + 1;
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const created = await store.create({ ...hold, pushId: `bench-${size}-${i}` }, createReadStream(packPath));
        const createMs = performance.now() - t0;
        const row = await db.query<{ n: string | number }>('SELECT pg_column_size(h.*) AS n FROM holds h WHERE id = $1', [created.id]);
        const chunks = await db.query<{ n: string | number; c: string | number }>('SELECT coalesce(sum(pg_column_size(c.*)), 0) AS n, count(*) AS c FROM hold_pack_chunks c WHERE hold_id = $1', [created.id]);
        const r: StoreRun = { createMs, packBytes, rowBytes: Number(row.rows[0]?.n ?? 0), chunkBytes: Number(chunks.rows[0]?.n ?? 0), chunks: Number(chunks.rows[0]?.c ?? 0) };
        if (size === 'large' || i % 25 === 0) log(`store ${kind} ${size} hold ${i}${i === 0 ? ' (warm-up)' : ''}: create ${createMs.toFixed(0)} ms, pack ${packBytes} B, row ${r.rowBytes} B, chunks ${r.chunks} × = ${r.chunkBytes} B`);
        if (i > 0) measured.push(r);
      }
      const after = await tablesBytes(db);
      out.push({ db: kind, size, runs: measured, perHoldTotal: (after - before) / n });
    }
    return out;
  } finally {
    await db?.close();
    await git.cleanup();
    await rm(dir, { recursive: true, force: true });
    await dropDatabase(bench);
  }
}

function oid(s: string): Oid {
  const o = parseOid(s);
  if (o === undefined) throw new Error(`not an object id: ${s}`);
  return o;
}

const fmtMs = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
const fmtBytes = (b: number): string => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(1)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${Math.round(b)} B`);

async function main(): Promise<void> {
  if (wants('relay') && !existsSync(defaultBundlePath())) throw new Error(`${defaultBundlePath()} is missing: run \`npm run build\` first`);
  const loadBefore = load();
  const kinds: BenchDatabase['kind'][] = values.database === 'both' ? ['postgres', 'pglite'] : [values.database as BenchDatabase['kind']];
  for (const k of kinds) if (k !== 'postgres' && k !== 'pglite') throw new Error(`--database: postgres, pglite or both, not ${k}`);
  if (kinds.includes('postgres') && !(await postgresAvailable())) throw new Error('PostgreSQL is not reachable (set PUSHGATE_BENCH_PG_URL)');
  const relay: RelayResult[] = [];
  const store: StoreResult[] = [];
  for (const k of kinds) {
    if (wants('relay')) relay.push(...(await measureRelay(k)));
    if (wants('store')) store.push(...(await measureStore(k)));
  }

  const ratio = (r: RelayRun) => r.relayMs / r.directMs;
  const goals: Goal[] = relay.map((r) => ({
    what: 'approved hold relayed (approval → upstream ref moved) / the same push direct',
    on: `${sizeLabel(r.size)}, ${r.db}`,
    measured: median(r.runs.map(ratio)),
    limit: GOAL_RATIO,
    unit: 'x',
    section: SECTION,
  }));
  const gitVersion = execFileSync('git', ['--version'], { encoding: 'utf8' }).trim();
  const shown = `npx tsx scripts/bench/holds.ts --runs ${runs} --database ${values.database}${values.only === PARTS.join(',') ? '' : ` --only ${values.only}`}${largeMb === 20 ? '' : ` --large-mb ${largeMb}`}`;
  const lines = [
    SECTION,
    '',
    `Command: \`npm run build && ${shown}\` (${new Date().toISOString().slice(0, 10)}; ${machine(gitVersion)}; load average ${loadBefore.toFixed(1)} at the start, ${load().toFixed(1)} at the end). The machine is shared with other work, so the figures are medians of ${runs} runs after a warm-up, and the ratios are what to compare.`,
    '',
  ];
  if (relay.length > 0) {
    lines.push(
      'The relay of an approved hold: a child gateway (`pushgate serve`) holds a push that touches `deploy/**`; a release manager approves it over the API, and the time runs from that call returning until the upstream\'s `refs/heads/main` is at the pushed commit (read from the upstream\'s files every 2 ms). It covers the relayer noticing the approval, claiming it (a committed `approved → relaying` with a lease), reading the upstream\'s refs, decrypting the pack out of the database and sending it, and the upstream\'s own index-pack. Against it, the same commit pushed straight to the same upstream (`git push` to the http-backend, the whole client process, its pack-objects included), alternating which goes first.',
      '',
      '| push | store | approval → ref moved | approve call | same push direct | ratio (median of per-run ratios) |',
      '|---|---|---:|---:|---:|---:|',
      ...relay.map((r) => {
        const m = median(r.runs.map(ratio));
        return `| ${sizeLabel(r.size)} | ${r.db} | ${fmtMs(median(r.runs.map((x) => x.relayMs)))} | ${fmtMs(median(r.runs.map((x) => x.approveMs)))} | ${fmtMs(median(r.runs.map((x) => x.directMs)))} | **${m.toFixed(2)}×** (≤ ${GOAL_RATIO.toFixed(1)}× ${m <= GOAL_RATIO ? '✓' : '✗'}) |`;
      }),
      '',
    );
  }
  if (store.length > 0) {
    lines.push(
      'A pending hold in the store: `HoldStore.create` with the same two pushes\' packs (`git pack-objects` of the commit), in this process, on a fresh database; the hold\'s row (`pg_column_size` of the `holds` row: commands, summary, decision), its pack chunks (`pg_column_size` of the `hold_pack_chunks` rows: AES-256-GCM ciphertext, nonce and tag per chunk of up to 4 MiB), and the growth of `pg_total_relation_size` over `holds`, `hold_pack_chunks` and `hold_approvals` (indexes and TOAST included) divided by the holds made (' +
        `${SMALL_HOLDS} small ones, ${runs + 1} large ones). Create times are medians over the holds made, the first left out.`,
      '',
      '| push | store | pack | create | hold row | pack chunks | chunks / pack | tables growth per hold |',
      '|---|---|---:|---:|---:|---:|---:|---:|',
      ...store.map((s) => {
        const pack = s.runs[0]?.packBytes ?? 0;
        const chunkBytes = median(s.runs.map((x) => x.chunkBytes));
        return `| ${sizeLabel(s.size)} | ${s.db} | ${fmtBytes(pack)} | ${fmtMs(median(s.runs.map((x) => x.createMs)))} | ${fmtBytes(median(s.runs.map((x) => x.rowBytes)))} | ${fmtBytes(chunkBytes)} (${s.runs[0]?.chunks ?? 0} chunks) | ${(chunkBytes / Math.max(1, pack)).toFixed(3)} | ${fmtBytes(s.perHoldTotal)} |`;
      }),
      '',
    );
  }
  const section = lines.join('\n');
  process.stdout.write(`${section}\n`);
  if (!values['no-write']) {
    await writeSection(SECTION, section);
    await writeGoals('holds', goals);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
