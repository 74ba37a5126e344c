/**
 * How long a large push takes to inspect. Builds (with git fast-import) a repository of 2,000
 * files, a mirror holding its first commit, and N new commits on top — edits to several files
 * each, exact renames, edited renames, additions, deletions and merges — then times
 * buildChangeSet over the thin pack git would push. Run:
 *
 *   npx tsx packages/changes/src/changeset.bench.ts [commits=5000]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, type Oid, type ProgressEvent, type RefUpdate } from '@pushgate/core';
import { GitDirObjectStore, PushedPackStore, checkObject, type ObjectStore } from '@pushgate/objects';
import { indexPack } from '@pushgate/pack';
import { GitFixture } from './git-fixture.test-support';
import { buildChangeSet, summarize } from './index';

const N = Number(process.argv[2] ?? 5000);
const DIRS = 20;
const PER_DIR = 100;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fileBody(path: string, version: number, lines = 40): string {
  return Array.from({ length: lines }, (_, i) => `${path} line ${i} ${i % 13 === version % 13 ? `v${version}` : 'unchanged text of the module'}`).join('\n') + '\n';
}

function stream(): string {
  const rnd = rng(7);
  const out: string[] = [];
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}`;
  let mark = 0;
  let time = 1_700_000_000;
  const files: string[] = [];
  const ops: string[] = [];
  for (let d = 0; d < DIRS; d++) {
    for (let f = 0; f < PER_DIR; f++) {
      const p = `pkg${d}/src/module${f}.ts`;
      files.push(p);
      ops.push(`M 100644 inline ${p}\n${data(fileBody(p, 0))}`);
    }
  }
  const commit = (ref: string, msg: string, body: string[], from?: number, merge?: number) => {
    mark++;
    out.push(
      `commit ${ref}\nmark :${mark}\nauthor Dev <dev@example.com> ${time} +0000\ncommitter Dev <dev@example.com> ${time++} +0000\n${data(msg)}` +
        (from ? `from :${from}\n` : '') +
        (merge ? `merge :${merge}\n` : '') +
        body.join(''),
    );
    return mark;
  };
  let head = commit('refs/heads/main', 'initial\n', ops);
  const base = head;
  let counter = 0;
  for (let i = 1; i <= N; i++) {
    if (i % 200 === 0) {
      const side = commit('refs/heads/side', `side ${i}\n`, [`M 100644 inline side/f${i}.txt\n${data(`side ${i}\n`)}`], head);
      head = commit('refs/heads/main', `merge ${i}\n`, [], head, side);
      continue;
    }
    const body: string[] = [];
    const touched = new Set<string>();
    for (let k = 0; k < 4; k++) {
      const p = files[Math.floor(rnd() * files.length)];
      if (touched.has(p)) continue;
      touched.add(p);
      body.push(`M 100644 inline ${p}\n${data(fileBody(p, i))}`);
    }
    if (i % 10 === 0) {
      const idx = Math.floor(rnd() * files.length);
      const from = files[idx];
      if (!touched.has(from)) {
        const to = from.replace('/src/', `/moved${counter++}/`);
        body.push(`R ${from} ${to}\n`);
        files[idx] = to;
      }
    }
    if (i % 25 === 0) {
      const idx = Math.floor(rnd() * files.length);
      const from = files[idx];
      if (!touched.has(from)) {
        const to = from.replace('.ts', `.renamed${counter++}.ts`);
        body.push(`D ${from}\nM 100644 inline ${to}\n${data(fileBody(from, i).replace('line 3 ', 'line three '))}`);
        files[idx] = to;
      }
    }
    if (i % 50 === 0) {
      const p = `pkg${i % DIRS}/src/added${i}.ts`;
      files.push(p);
      body.push(`M 100644 inline ${p}\n${data(fileBody(p, i, 20))}`);
    }
    if (i % 100 === 0) {
      const idx = Math.floor(rnd() * files.length);
      if (!touched.has(files[idx])) {
        body.push(`D ${files[idx]}\n`);
        files.splice(idx, 1);
      }
    }
    head = commit('refs/heads/main', `change ${i}\n`, body, i === 1 ? base : undefined);
  }
  out.push(`reset refs/heads/base\nfrom :${base}\n`);
  return `${out.join('\n')}\n`;
}

async function main(): Promise<void> {
  const work = GitFixture.create('bench-work');
  const mirror = GitFixture.create('bench-mirror', { bare: true });
  const scratch = mkdtempSync(join(tmpdir(), 'pg-bench-'));
  try {
    let t = performance.now();
    execFileSync('git', ['fast-import', '--quiet'], { cwd: work.dir, env: work.env(), input: stream(), maxBuffer: 1 << 30 });
    mirror.git('config', 'transfer.unpackLimit', '1');
    mirror.git('fetch', '-q', work.dir, 'refs/heads/base:refs/heads/main');
    const base = mirror.git('rev-parse', 'main').trim();
    const tip = work.git('rev-parse', 'refs/heads/main').trim();
    const packPath = join(scratch, 'push.pack');
    writeFileSync(packPath, work.gitBytes(['pack-objects', '--thin', '--stdout', '--revs', '-q'], `${tip}\n^${base}\n`));
    console.log(`setup: ${Math.round(performance.now() - t)} ms`);

    const limits = DEFAULT_LIMITS;
    const mirrorStore = GitDirObjectStore.open(mirror.dir, { limits });
    // What the gateway does before the change set: index the thin pack against the mirror,
    // checking every object strictly.
    t = performance.now();
    const indexed = await indexPack(packPath, {
      limits,
      external: (oid) => mirrorStore.read(oid),
      onObject: (o) => checkObject(o.type, o.data, { oid: o.oid }),
    });
    console.log(`indexPack with strict checks: ${Math.round(performance.now() - t)} ms for ${indexed.objectCount} objects`);
    const pushed = PushedPackStore.open(packPath, indexed.idxPath, { limits, base: mirrorStore, ...(process.env.CACHE_MB ? { cacheBytes: Number(process.env.CACHE_MB) << 20 } : {}) });
    if (process.env.BENCH_READS === '1') {
      // The pack reader alone: every pushed object, by type, in pack index order.
      const per: Record<string, [number, number]> = {};
      const c0 = process.cpuUsage();
      for (const oid of pushed.oids()) {
        const t0 = performance.now();
        const o = pushed.read(oid)!;
        per[o.type] ??= [0, 0];
        per[o.type][0]++;
        per[o.type][1] += performance.now() - t0;
      }
      const c1 = process.cpuUsage(c0);
      console.log(`reads: ${Object.entries(per).map(([k, [n, ms]]) => `${k} ${n} × ${((ms * 1000) / n).toFixed(1)} µs`).join(', ')}; CPU ${Math.round((c1.user + c1.system) / 1000)} ms`);
    }
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 1);
    const events: ProgressEvent[] = [];
    t = performance.now();
    const inner = pushed.withBase();
    // Per-call store timings (BENCH_STORE_STATS=1); otherwise the store is passed as it is.
    const stat: Record<string, [number, number]> = {};
    const timed = <T>(key: (r: T) => string, f: () => T): T => {
      const t0 = performance.now();
      const r = f();
      const k = key(r);
      stat[k] ??= [0, 0];
      stat[k][0]++;
      stat[k][1] += performance.now() - t0;
      return r;
    };
    const wrap: ObjectStore =
      process.env.BENCH_STORE_STATS !== '1'
        ? inner
        : {
            read: (oid) => timed((o) => `read ${o?.type ?? 'none'}`, () => inner.read(oid)),
            has: (oid) => timed(() => 'has', () => inner.has(oid)),
            header: (oid) => timed(() => 'header', () => inner.header(oid)),
          };
    const cpu = process.cpuUsage();
    const cs = await buildChangeSet({
      commands: [{ ref: 'refs/heads/main', oldOid: base as Oid, newOid: tip as Oid } as RefUpdate],
      store: wrap,
      mirror: mirrorStore,
      mirrorGitDir: mirror.dir,
      upstreamRefs: new Map([['refs/heads/main', base as Oid]]),
      limits,
      // BENCH_DIFF_BUDGET=0 measures everything but the line diffs.
      ...(process.env.BENCH_DIFF_BUDGET ? { options: { maxDiffTotalBytes: Number(process.env.BENCH_DIFF_BUDGET) } } : {}),
      onProgress: (e) => events.push(e),
    });
    const ms = performance.now() - t;
    const used = process.cpuUsage(cpu);
    clearInterval(timer);
    pushed.close();
    mirrorStore.close();
    const renames = cs.commits.reduce((n, c) => n + c.files.toArray().filter((f) => f.status === 'renamed').length, 0);
    const similar = cs.commits.reduce((n, c) => n + c.files.toArray().filter((f) => f.status === 'renamed' && f.similarity < 100).length, 0);
    console.log(
      `buildChangeSet: ${Math.round(ms)} ms wall, ${Math.round((used.user + used.system) / 1000)} ms CPU for ${cs.stats.commits} commits (${cs.stats.merges} merges), ${cs.stats.fileChanges} file changes, ` +
        `${renames} renames (${similar} edited), ${cs.stats.paths} distinct paths; ` +
        `${(ms / cs.stats.commits).toFixed(2)} ms/commit; longest event-loop stall ${Math.round(maxGap)} ms; ${events.length} progress events`,
    );
    console.log(JSON.stringify(summarize(cs).refs[0]));
    // For scale: git itself producing the same per-commit patches (first parent, renames).
    const g = performance.now();
    execFileSync('git', ['log', '-p', '-M', '-m', '--first-parent', '--format=%H', `${base}..${tip}`], { cwd: work.dir, env: work.env(), maxBuffer: 1 << 30 });
    console.log(`git log -p -M --first-parent over the same commits: ${Math.round(performance.now() - g)} ms`);
    if (Object.keys(stat).length) console.log(Object.entries(stat).map(([k, [n, ms]]) => `${k}: ${n} calls ${Math.round(ms)} ms`).join('\n'));
  } finally {
    work.cleanup();
    mirror.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
