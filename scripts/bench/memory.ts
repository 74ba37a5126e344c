/**
 * Where the memory of a large push's inspection goes: the initial push of the ~200 MB repository
 * of scripts/bench/push.ts (`ensureRepo` seed 3: 20000 commits) inspected in one process as the
 * gateway does it — `indexPack` with its strict checks, then the change set over the pushed pack
 * with GATEWAY_CHANGESET_OPTIONS — with Node's heap and ArrayBuffer memory sampled every 20 ms.
 * Then the same once more with a full garbage collection forced every `--gc-every-ms`: the peak
 * that dead-but-uncollected memory adds is the difference.
 *
 * Given a real repository and a range (`--repo`, `--range`: history.ts), the inspection of that
 * range's thin push onto its base (the base as the mirror) is measured the same way, as the
 * gateway runs.
 *
 * Each variant runs in a child process with the gateway's V8 and allocator settings (those of
 * bin/pushgate.js) and `--expose-gc`. Prints a markdown section and writes it to docs/BENCHMARKS.md under
 * "Memory of a large inspection" (other sections are left alone).
 *
 *   npx tsx scripts/bench/memory.ts [--rss-mb 225] [--gc-every-ms 100] [--no-write]
 *       [--repo <bare git dir> --range <old>..<new> [--history-name owner/name]]
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_LIMITS, ZERO_OID, type Oid, type RefUpdate } from '@pushgate/core';
import { buildChangeSet } from '@pushgate/changes';
import { GitDirObjectStore, PushedPackStore, checkObject, type ObjectStore } from '@pushgate/objects';
import { indexPack } from '@pushgate/pack';
import { GATEWAY_CHANGESET_OPTIONS } from '../../packages/gateway/src/inspection';
import { ensureRepo } from '../synth/repo';
import { GATEWAY_NODE_OPTIONS, MB, goalCell, load, machine, writeSection } from './common';
import { HISTORY_HINT, HISTORY_OPTIONS, ensureHistory, historySource, shownHistoryArgs, type HistoryPush } from './history';

const SECTION = '## Memory of a large inspection';
const SELF = fileURLToPath(import.meta.url);

const { values } = parseArgs({
  options: {
    child: { type: 'string' },
    pack: { type: 'string' },
    mirror: { type: 'string' },
    old: { type: 'string' },
    tip: { type: 'string' },
    ...HISTORY_OPTIONS,
    'rss-mb': { type: 'string', default: '225' },
    'gc-every-ms': { type: 'string', default: '100' },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write('Usage: npx tsx scripts/bench/memory.ts [--rss-mb 225] [--gc-every-ms 100] [--no-write] [--repo <bare git dir> --range <old>..<new>]\n');
  process.exit(0);
}

/** What one child measured (bytes, milliseconds). */
interface Measured {
  readonly startRss: number;
  readonly indexMs: number;
  readonly changesMs: number;
  /** VmHWM of the child at the end: its peak over both stages. */
  readonly peakRss: number;
  /** Highest samples during the change set. */
  readonly peakHeapUsed: number;
  readonly peakArrayBuffers: number;
  /** Just after the change set, before and after a full collection (the change set still held). */
  readonly endHeapUsed: number;
  readonly endArrayBuffers: number;
  readonly liveHeapUsed: number;
  readonly liveArrayBuffers: number;
  /** The pushed pack's reader: its index file, and its two caches' budgets. */
  readonly idxBytes: number;
  readonly readerCacheBytes: number;
  /** Objects the change set read, by type: count and bytes. */
  readonly reads: Record<string, { count: number; bytes: number }>;
  readonly commits: number;
  readonly fileChanges: number;
  readonly paths: number;
  readonly changeSetJsonBytes: number;
}

async function vmHwm(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

/** What one child inspects: a pushed pack, the mirror it lands on (none: an empty one), and main's move. */
interface Inspected {
  readonly pack: string;
  readonly mirror: string | undefined;
  readonly old: Oid;
  readonly tip: Oid;
}

/** The initial push of a whole repository (its one pack) to an empty repository. */
function initialPush(repoDir: string): Inspected {
  const tip = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoDir, encoding: 'utf8' }).trim() as Oid;
  const packDir = join(repoDir, 'objects/pack');
  const pack = readdirSync(packDir).find((f) => f.endsWith('.pack'))!;
  return { pack: join(packDir, pack), mirror: undefined, old: ZERO_OID, tip };
}

/** The measurement itself (in the child). */
async function measure(input: Inspected, gcEveryMs: number): Promise<Measured> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const startRss = process.memoryUsage.rss();
  const tip = input.tip;
  const scratch = mkdtempSync(join(tmpdir(), 'pushgate-bench-memory-'));
  try {
    // The pushed pack as the gateway spools it, and the mirror (empty when the push creates the repository).
    const packPath = join(scratch, 'push.pack');
    copyFileSync(input.pack, packPath);
    const mirrorDir = input.mirror ?? join(scratch, 'mirror.git');
    if (input.mirror === undefined) execFileSync('git', ['init', '-q', '--bare', mirrorDir]);
    const limits = DEFAULT_LIMITS;
    const mirror = GitDirObjectStore.open(mirrorDir, { limits });
    let t = performance.now();
    const indexed = await indexPack(packPath, {
      limits,
      external: (oid) => mirror.read(oid),
      onObject: (o) => {
        if (o.type !== 'blob') checkObject(o.type, o.data, { oid: o.oid });
      },
    });
    const indexMs = performance.now() - t;
    const pushed = PushedPackStore.open(packPath, indexed.idxPath, { limits, base: mirror });
    const inner = pushed.withBase();
    const reads: Record<string, { count: number; bytes: number }> = {};
    const store: ObjectStore = {
      read: (oid) => {
        const o = inner.read(oid);
        if (o) {
          const r = (reads[o.type] ??= { count: 0, bytes: 0 });
          r.count++;
          r.bytes += o.data.length;
        }
        return o;
      },
      has: (oid) => inner.has(oid),
      header: (oid) => inner.header(oid),
    };
    let peakHeapUsed = 0;
    let peakArrayBuffers = 0;
    let lastGc = performance.now();
    const sampler = setInterval(() => {
      if (gcEveryMs > 0 && performance.now() - lastGc >= gcEveryMs) {
        gc();
        lastGc = performance.now();
      }
      const m = process.memoryUsage();
      peakHeapUsed = Math.max(peakHeapUsed, m.heapUsed);
      peakArrayBuffers = Math.max(peakArrayBuffers, m.arrayBuffers);
    }, 20);
    t = performance.now();
    const cs = await buildChangeSet({
      commands: [{ ref: 'refs/heads/main', oldOid: input.old, newOid: tip } as RefUpdate],
      store,
      mirror,
      mirrorGitDir: mirrorDir,
      upstreamRefs: input.old === ZERO_OID ? new Map() : new Map([['refs/heads/main', input.old]]),
      limits,
      options: GATEWAY_CHANGESET_OPTIONS,
    });
    const changesMs = performance.now() - t;
    clearInterval(sampler);
    const end = process.memoryUsage();
    // What is still reachable: ArrayBuffers a collection freed are counted until V8's sweeper
    // (concurrent) has released them, so collect, let it run, and collect again.
    gc();
    await new Promise((r) => setTimeout(r, 200));
    gc();
    const live = process.memoryUsage();
    const peakRss = await vmHwm();
    const measured: Measured = {
      startRss,
      indexMs,
      changesMs,
      peakRss,
      peakHeapUsed: Math.max(peakHeapUsed, end.heapUsed),
      peakArrayBuffers: Math.max(peakArrayBuffers, end.arrayBuffers),
      endHeapUsed: end.heapUsed,
      endArrayBuffers: end.arrayBuffers,
      liveHeapUsed: live.heapUsed,
      liveArrayBuffers: live.arrayBuffers,
      idxBytes: statSync(indexed.idxPath).size,
      // PackReader's defaults, which the gateway uses: 16 MiB of pack windows, 16 MiB of resolved objects.
      readerCacheBytes: 32 * MB,
      reads,
      commits: cs.stats.commits,
      fileChanges: cs.stats.fileChanges,
      paths: cs.stats.paths,
      changeSetJsonBytes: Buffer.byteLength(JSON.stringify(cs)),
    };
    pushed.close();
    mirror.close();
    return measured;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function runChild(input: Inspected, gcEveryMs: number): Promise<Measured> {
  const args = ['--child', String(gcEveryMs), '--pack', input.pack, '--old', input.old, '--tip', input.tip, ...(input.mirror === undefined ? [] : ['--mirror', input.mirror])];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...GATEWAY_NODE_OPTIONS.split(' '), '--expose-gc', '--import', 'tsx', SELF, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      // glibc's thresholds from bin/pushgate.js's shebang, as the gateway runs.
      env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`measurement child exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as Measured);
    });
  });
}

const mb = (bytes: number) => `${Math.round(bytes / MB)} MB`;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The public history's part of the section: its inspection's peak, as the gateway runs. */
function historySection(history: { push: HistoryPush; measured: Measured } | undefined): string {
  if (history === undefined) return `\n**Public history**: not measured in this run (${HISTORY_HINT}).\n`;
  const { push: h, measured: m } = history;
  return `
**Public history**: the inspection of ${h.name} ${h.range} (${h.pushCommits} commits, ${h.pushMerges} of them merges; a ${(h.packBytes / 1e6).toFixed(1)} MB thin pack of ${h.packObjects} objects, scripts/bench/history.ts) onto its ${h.baseCommits}-commit base as the mirror, as the gateway runs:

| | as the gateway runs |
|---|---:|
| RSS at start (Node and the modules) | ${mb(m.startRss)} |
| peak RSS (VmHWM) | **${mb(m.peakRss)}** (${goalCell({ measured: m.peakRss / MB, limit: 300, unit: 'MB' })}) |
| peak heap used during the change set | ${mb(m.peakHeapUsed)} |
| peak ArrayBuffer memory during the change set | ${mb(m.peakArrayBuffers)} |
| heap still used once built, after a full GC (the change set) | ${mb(m.liveHeapUsed)} |
| index / change set | ${s(m.indexMs)} / ${s(m.changesMs)} |
| commits / file changes in the change set | ${m.commits} / ${m.fileChanges} |

The goal (≤ 300 MB) is the gateway's peak during the whole push, measured under [Push through the gateway](#push-through-the-gateway); this is the inspection's share of it in a process of its own.
`;
}

function section(repo: { commits: number; packBytes: number; objects: number }, asRun: Measured, forced: Measured, gcEveryMs: number, startLoad: number, endLoad: number, historyFlags: string): string {
  const gitVersion = execFileSync('git', ['--version'], { encoding: 'utf8' });
  const added = asRun.peakRss - asRun.startRss;
  const trees = asRun.reads.tree ?? { count: 0, bytes: 0 };
  const blobs = asRun.reads.blob ?? { count: 0, bytes: 0 };
  const readerBytes = asRun.readerCacheBytes + asRun.idxBytes;
  const deadBuffers = asRun.peakArrayBuffers - forced.peakArrayBuffers;
  return `${SECTION}

The inspection of the ~200 MB push above (${repo.commits} commits, ${repo.objects} objects, ${(repo.packBytes / 1e6).toFixed(0)} MB pack, pushed to an empty repository), in one process as the gateway runs it: \`indexPack\` with its strict object checks, then the change set with the gateway's cache sizes, Node's heap and ArrayBuffer memory sampled every 20 ms; then the same with a full garbage collection forced every ${gcEveryMs} ms.

    npx tsx scripts/bench/memory.ts --gc-every-ms ${gcEveryMs}${historyFlags}

Measured ${new Date().toISOString().slice(0, 10)} on ${machine(gitVersion)}; 1-minute load average ${startLoad.toFixed(2)} → ${endLoad.toFixed(2)}.

| | as the gateway runs | full GC every ${gcEveryMs} ms |
|---|---:|---:|
| RSS at start (Node and the modules) | ${mb(asRun.startRss)} | ${mb(forced.startRss)} |
| peak RSS (VmHWM) | **${mb(asRun.peakRss)}** | **${mb(forced.peakRss)}** |
| peak heap used during the change set | ${mb(asRun.peakHeapUsed)} | ${mb(forced.peakHeapUsed)} |
| peak ArrayBuffer memory during the change set | ${mb(asRun.peakArrayBuffers)} | ${mb(forced.peakArrayBuffers)} |
| heap still used once built, after a full GC (the change set) | ${mb(asRun.liveHeapUsed)} | ${mb(forced.liveHeapUsed)} |
| ArrayBuffers still used once built, after a full GC | ${mb(asRun.liveArrayBuffers)} | ${mb(forced.liveArrayBuffers)} |
| index / change set | ${s(asRun.indexMs)} / ${s(asRun.changesMs)} | ${s(forced.indexMs)} / ${s(forced.changesMs)} |

What the ${mb(added)} the push adds at its peak are made of:

- **The change set itself, ~${mb(asRun.liveHeapUsed)} of heap**: ${asRun.commits} commits with ${asRun.fileChanges} file changes over ${asRun.paths} distinct paths (file level; content is read on demand); as JSON it is ${mb(asRun.changeSetJsonBytes)}. The heap peaks at ${mb(asRun.peakHeapUsed)} while it is built.
- **The pushed pack's reader, ~${mb(readerBytes)} of ArrayBuffers**: its index (${mb(asRun.idxBytes)}) and its caches (16 MiB of pack windows, 16 MiB of resolved objects).
- **Dead ArrayBuffers not yet collected, ~${mb(Math.max(0, deadBuffers))}**: the change set reads every tree of the history, each about once (${trees.count} tree reads, ${mb(trees.bytes)}; ${blobs.count} blob reads, ${mb(blobs.bytes)}) through its 16 MiB tree cache, so hundreds of MB of object buffers die while it runs; V8 frees them only at a full collection, which external memory triggers after tens of MB. Forcing collections removes most of them (peak ArrayBuffers ${mb(asRun.peakArrayBuffers)} → ${mb(forced.peakArrayBuffers)}) at a cost in time (change set ${s(asRun.changesMs)} → ${s(forced.changesMs)}).
- **Heap garbage while it is built, ~${mb(Math.max(0, asRun.peakHeapUsed - asRun.liveHeapUsed))}** (peak heap used less the change set), and the builder's tree and blob caches (16 and 8 MiB, gone once it returns); the rest is memory the allocator keeps between collections and zlib's state.

${asRun.peakRss <= 300 * MB ? `In one process the inspection stays within 300 MB (${mb(asRun.peakRss)}; ${mb(forced.peakRss)} with the dead buffers collected): the change set is file-level and compact (typed arrays over interned paths and ids), and what fills the peak is reading — the pack readers' caches and tree buffers awaiting collection. The gateway adds its own baseline to this (its HTTP server, database client, mirrors; see Push through the gateway for its measured peak).` : `Even so the peak stays above 300 MB (${mb(asRun.peakRss)}; ${mb(forced.peakRss)} with the dead buffers collected): what remains is the readers of the packs the change set is built from and their caches, and the change set's own ~${mb(asRun.liveHeapUsed)}.`}
`;
}

async function main(): Promise<void> {
  if (values.child !== undefined) {
    const measured = await measure({ pack: values.pack!, mirror: values.mirror, old: values.old as Oid, tip: values.tip as Oid }, Number(values.child));
    process.stdout.write(`${JSON.stringify(measured)}\n`);
    return;
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const gcEveryMs = Number(values['gc-every-ms']);
  const source = historySource(values);
  if (!Number.isInteger(gcEveryMs) || gcEveryMs <= 0) throw new Error('--gc-every-ms: a positive whole number of milliseconds');
  const repo = await ensureRepo({ seed: 3, commits: 20_000, packBytes: Number(values['rss-mb']) * 1e6 }, log);
  const startLoad = load();
  log('as the gateway runs…');
  const asRun = await runChild(initialPush(repo.dir), 0);
  log(`  peak RSS ${mb(asRun.peakRss)}, change set ${s(asRun.changesMs)}`);
  log(`full GC every ${gcEveryMs} ms…`);
  const forced = await runChild(initialPush(repo.dir), gcEveryMs);
  log(`  peak RSS ${mb(forced.peakRss)}, change set ${s(forced.changesMs)}`);
  let history: { push: HistoryPush; measured: Measured } | undefined;
  if (source !== undefined) {
    const push = await ensureHistory(source, log);
    log(`${push.name} ${push.range}, as the gateway runs…`);
    const measured = await runChild({ pack: push.packPath, mirror: push.baseDir, old: push.baseTip as Oid, tip: push.tip as Oid }, 0);
    log(`  peak RSS ${mb(measured.peakRss)}, change set ${s(measured.changesMs)}`);
    history = { push, measured };
  } else log(`memory: no public history this run: ${HISTORY_HINT}`);
  const text = section(repo, asRun, forced, gcEveryMs, startLoad, load(), source === undefined ? '' : ` ${shownHistoryArgs(source)}`) + historySection(history);
  process.stdout.write(`${text}\n`);
  if (!values['no-write']) await writeSection(SECTION, text);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
