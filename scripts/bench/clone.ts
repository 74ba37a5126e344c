/**
 * Benchmark (not a test): `git clone` of a large synthetic repository through the gateway (a child
 * `node dist/pushgate.js serve`, the way it runs in production) against the same clone straight from
 * the upstream, alternating in one run, N times each. Reports the median wall-time ratio
 * (goal ≤ 1.05) and the gateway's peak RSS (goal ≤ 150 MB), and writes the "Clone through the
 * gateway" section of docs/BENCHMARKS.md (replacing only that section).
 *
 *   npm run build && npx tsx scripts/bench/clone.ts [--runs 9] [--commits 20000] [--megabytes 110]
 *       [--seed 1] [--database postgres|pglite] [--no-write]
 *
 * The repository comes from scripts/synth/repo.ts (`ensureRepo`, cached under .bench/). The upstream is the
 * real `git http-backend` behind testkit's loopback adapter, requiring a credential that only the
 * gateway has; both clones go through that same adapter, so the ratio isolates the gateway's hop.
 * With `--database postgres` (default when PostgreSQL answers at PUSHGATE_BENCH_PG_URL or
 * postgres://postgres@127.0.0.1:5432/postgres) the gateway's audit store is a fresh PostgreSQL
 * database; with `pglite` it is the embedded one, whose WebAssembly heap dominates the RSS.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { issueToken, loadOrCreateSigningKeys } from '@pushgate/auth';
import { createGitEnv, defaultBundlePath, startGateway, startGitUpstream } from '@pushgate/testkit';
import { ensureRepo, type SynthRepo } from '../synth/repo';
import {
  GATEWAY_NODE_OPTIONS,
  MB,
  createDatabase,
  databaseConfig,
  dropDatabase,
  load,
  machine,
  median,
  memory,
  postgresAvailable,
  resetPeak,
  writeSection,
  type BenchDatabase,
} from './common';

const SECTION = '## Clone through the gateway';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '9' },
    commits: { type: 'string', default: '20000' },
    megabytes: { type: 'string', default: '110' },
    seed: { type: 'string', default: '1' },
    database: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write(`Usage: npx tsx scripts/bench/clone.ts [--runs 9] [--commits 20000] [--megabytes 110] [--seed 1] [--database postgres|pglite] [--no-write]\n`);
  process.exit(0);
}
const runs = Number(values.runs);
const params = { seed: Number(values.seed), commits: Number(values.commits), packBytes: Number(values.megabytes) * 1e6 };
const log = (s: string): void => void process.stderr.write(`${s}\n`);

/** PostgreSQL unless asked for the embedded store, or unless PostgreSQL does not answer and was not asked for. */
async function chooseDatabase(): Promise<BenchDatabase> {
  if (values.database === 'pglite') return createDatabase('pglite');
  if (values.database !== 'postgres' && !(await postgresAvailable())) {
    log('PostgreSQL unavailable; using the embedded database');
    return createDatabase('pglite');
  }
  return createDatabase('postgres');
}

async function main(): Promise<void> {
  if (!existsSync(defaultBundlePath())) throw new Error('dist/pushgate.js is missing: run `npm run build` first');
  const repo = await ensureRepo(params, log);
  log(`repository: ${repo.commits} commits, ${repo.objects} objects, ${(repo.packBytes / MB).toFixed(1)} MiB pack`);

  const work = await mkdtemp(join(tmpdir(), 'pushgate-bench-clone-'));
  const root = join(work, 'repos');
  const secret = randomBytes(24).toString('hex');
  const upstream = await startGitUpstream({ root, auth: { username: 'x-access-token', password: secret } });
  await symlink(repo.dir, join(root, 'bench.git'));
  const database = await chooseDatabase();
  const gateway = await startGateway({
    mode: 'child',
    dir: join(work, 'gateway'),
    config: {
      publicUrl: 'http://pushgate.bench',
      upstreams: [{ name: 'local', url: upstream.url, passwordEnv: 'BENCH_UPSTREAM_PASSWORD' }],
      log: { level: 'info' },
      ...databaseConfig(database),
    },
    env: { BENCH_UPSTREAM_PASSWORD: secret },
  });
  const git = await createGitEnv();
  try {
    const keys = await loadOrCreateSigningKeys({ dataDir: gateway.dataDir });
    const token = await issueToken(keys, { issuer: 'http://pushgate.bench', audience: 'pushgate', sub: 'bench', agentClaim: 'agent', ttl: '1h' });
    const direct = new URL(`${upstream.url}/bench.git`);
    direct.username = 'x-access-token';
    direct.password = secret;
    const through = new URL(`${gateway.url}/local/bench.git`);
    through.username = 'bench';
    through.password = token;

    const pid = gateway.pid!;
    const clone = async (url: URL, label: string, i: number): Promise<number> => {
      const dest = join(git.dir, `${label}-${i}.git`);
      const started = performance.now();
      await git.gitOk(['clone', '--bare', '--quiet', url.toString(), dest]);
      const ms = performance.now() - started;
      await rm(dest, { recursive: true, force: true });
      return ms;
    };

    // One untimed clone each: page cache, upstream and gateway warm.
    await clone(direct, 'warm-direct', 0);
    await clone(through, 'warm-gateway', 0);
    const baseline = await memory(pid);
    const loadBefore = load();
    let peak = 0;
    const times = { direct: [] as number[], gateway: [] as number[] };
    for (let i = 0; i < runs; i++) {
      // Alternate which goes first so drift (thermal, page cache, neighbours) hits both alike.
      const order = i % 2 === 0 ? (['direct', 'gateway'] as const) : (['gateway', 'direct'] as const);
      for (const which of order) {
        if (which === 'gateway') await resetPeak(pid);
        const ms = await clone(which === 'direct' ? direct : through, which, i + 1);
        times[which].push(ms);
        if (which === 'gateway') peak = Math.max(peak, (await memory(pid)).hwm);
        log(`run ${i + 1} ${which.padEnd(7)} ${(ms / 1000).toFixed(2)} s`);
      }
    }
    const pairRatios = times.gateway.map((g, i) => g / times.direct[i]);
    // The median of per-run ratios (each gateway clone against the direct clone beside it) is
    // robust to the machine's load drifting during the run; the ratio of medians is shown too.
    const ratio = median(pairRatios);
    const ratioOfMedians = median(times.gateway) / median(times.direct);
    const gitVersion = (await git.gitOk(['--version'])).stdout.trim();
    const result = {
      date: new Date().toISOString().slice(0, 10),
      machine: machine(gitVersion),
      database: database.kind,
      repo,
      runs,
      medianDirectS: median(times.direct) / 1000,
      medianGatewayS: median(times.gateway) / 1000,
      ratio,
      ratioOfMedians,
      pairRatios,
      loadAverage: { before: loadBefore, after: load() },
      baselineRssMB: baseline.rss / MB,
      peakRssMB: peak / MB,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    log(
      `median direct ${result.medianDirectS.toFixed(2)} s, through the gateway ${result.medianGatewayS.toFixed(2)} s: median ratio ${ratio.toFixed(3)} (goal ≤ 1.05); ` +
        `gateway RSS ${result.baselineRssMB.toFixed(0)} MB before, peak ${result.peakRssMB.toFixed(0)} MB during clones (goal ≤ 150 MB)`,
    );
    if (!values['no-write']) {
      await writeSection(SECTION, section(result));
      log(`wrote "${SECTION}" in docs/BENCHMARKS.md`);
    }
  } finally {
    await gateway.stop();
    await upstream.close();
    await git.cleanup();
    await dropDatabase(database);
    await rm(work, { recursive: true, force: true });
  }
}

interface Result {
  date: string;
  machine: string;
  database: string;
  repo: SynthRepo;
  runs: number;
  medianDirectS: number;
  medianGatewayS: number;
  ratio: number;
  ratioOfMedians: number;
  pairRatios: number[];
  loadAverage: { before: number; after: number };
  baselineRssMB: number;
  peakRssMB: number;
}

/** The "Clone through the gateway" section for `r`. */
function section(r: Result): string {
  const command = `npm run build && npx tsx scripts/bench/clone.ts --runs ${r.runs} --commits ${r.repo.params.commits} --megabytes ${r.repo.params.packBytes / 1e6} --seed ${r.repo.params.seed} --database ${r.database}`;
  return `${SECTION}

\`git clone --bare\` of a synthetic repository (\`ensureRepo\` in scripts/synth/repo.ts: ${r.repo.commits} commits,
${r.repo.objects} objects, ${(r.repo.packBytes / MB).toFixed(1)} MiB pack) from a loopback
\`git http-backend\` upstream, directly and through the gateway running as a child process
(\`bin/pushgate.js serve\`: node ${GATEWAY_NODE_OPTIONS} with the allocator settings its shebang sets; audit store: ${r.database === 'postgres' ? 'PostgreSQL' : 'embedded PGlite'}), alternating, ${r.runs} runs each
after one untimed warm-up clone of each.

    ${command}

Measured ${r.date} on ${r.machine}. The machine is shared (1-minute load average
${r.loadAverage.before.toFixed(2)} at the start of the timed runs, ${r.loadAverage.after.toFixed(2)} at the end) and has 2 cores, which the
git client, the upstream's http-backend/pack-objects and the gateway compete for, so single runs
are noisy: compare medians over alternating runs.

| | median | goal |
|---|---|---|
| clone direct from the upstream | ${r.medianDirectS.toFixed(2)} s | |
| clone through the gateway | ${r.medianGatewayS.toFixed(2)} s | |
| **wall-time ratio, gateway / direct** (median of per-run ratios) | **${r.ratio.toFixed(3)}** | ≤ 1.05 ${r.ratio <= 1.05 ? '✓' : '✗'} |
| gateway peak RSS during the clones | **${r.peakRssMB.toFixed(0)} MB** (${r.baselineRssMB.toFixed(0)} MB before) | ≤ 150 MB ${r.peakRssMB <= 150 ? '✓' : '✗'} |

Per-run ratios (each clone through the gateway over the direct clone beside it):
${r.pairRatios.map((x) => x.toFixed(3)).join(', ')}; the ratio of the two medians is ${r.ratioOfMedians.toFixed(3)}.
Peak RSS is VmHWM from /proc/<pid>/status, reset before each clone through the gateway
(clear_refs), so it is the peak while clones stream, not the start-up peak. With the embedded
PGlite audit store instead (\`--database pglite\`) the gateway's RSS is several hundred MB before
the first request, most of it PGlite's WebAssembly heap; a clone adds as little to it.
`;
}

await main();
