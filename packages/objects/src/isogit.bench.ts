/**
 * Cost of reading objects through isomorphic-git (over isoGitOverStore) against reading the store
 * and parsing with this package. Run: `npx tsx packages/objects/src/isogit.bench.ts [commits]`.
 * The numbers decide which code the change set uses on its hot paths (see README.md).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as git from 'isomorphic-git';
import { DEFAULT_LIMITS, type Oid } from '@pushgate/core';
import { GitDirObjectStore, RawTree, commitLinks, isoGitOverStore, parseCommit } from './index';

const commits = Number(process.argv[2] ?? 3000);
const dir = mkdtempSync(join(tmpdir(), 'pg-isogit-bench-'));
const env = { PATH: process.env.PATH ?? '', HOME: dir, GIT_CONFIG_NOSYSTEM: '1' };

function fastImport(): void {
  const parts: string[] = [];
  for (let i = 0; i < commits; i++) {
    const msg = `commit ${i}\n`;
    parts.push(`commit refs/heads/main\ncommitter C <c@example.com> ${1_700_000_000 + i} +0000\ndata ${Buffer.byteLength(msg)}\n${msg}`);
    for (let f = 0; f < 3; f++) {
      const body = `file ${(i + f) % 40} version ${i}\n`.repeat(20);
      parts.push(`M 100644 inline dir${f}/sub/file${(i + f) % 40}.txt\ndata ${Buffer.byteLength(body)}\n${body}`);
    }
    parts.push('');
  }
  execFileSync('git', ['init', '-q', '--bare', dir], { env });
  execFileSync('git', ['fast-import', '--quiet'], { cwd: dir, env, input: parts.join('\n'), maxBuffer: 1 << 28 });
  execFileSync('git', ['repack', '-a', '-d', '-q'], { cwd: dir, env });
}

async function time(label: string, n: number, fn: () => Promise<void> | void): Promise<number> {
  const t = performance.now();
  await fn();
  const us = ((performance.now() - t) * 1000) / n;
  console.log(`${label.padEnd(52)} ${us.toFixed(1).padStart(8)} µs/object  (${n} objects)`);
  return us;
}

async function main(): Promise<void> {
  fastImport();
  const store = GitDirObjectStore.open(dir, { limits: DEFAULT_LIMITS });
  const ctx = isoGitOverStore(store);
  const oids = execFileSync('git', ['rev-list', 'main'], { cwd: dir, env, encoding: 'latin1' }).trim().split('\n') as Oid[];
  const trees = oids.map((o) => parseCommit(store.read(o)!.data).tree);
  // Warm the page cache and both code paths.
  for (const o of oids.slice(0, 200)) {
    parseCommit(store.read(o)!.data);
    await git.readCommit({ ...ctx, oid: o });
  }
  await time('store.read + parseCommit', oids.length, () => {
    for (const o of oids) parseCommit(store.read(o)!.data);
  });
  await time('store.read + commitLinks (tree and parents only)', oids.length, () => {
    for (const o of oids) commitLinks(store.read(o)!.data);
  });
  await time('isomorphic-git readCommit over the store', oids.length, async () => {
    for (const o of oids) await git.readCommit({ ...ctx, oid: o });
  });
  await time('store.read + RawTree.parse (root trees)', trees.length, () => {
    for (const t of trees) RawTree.parse(store.read(t)!.data);
  });
  await time('isomorphic-git readTree over the store', trees.length, async () => {
    for (const t of trees) await git.readTree({ ...ctx, oid: t });
  });
  await time('isomorphic-git log (whole history)', oids.length, async () => {
    await git.log({ ...ctx, ref: oids[0] });
  });
  await time('own walk: store.read + commitLinks per commit', oids.length, () => {
    const seen = new Set<string>();
    const stack = [oids[0]];
    while (stack.length) {
      const o = stack.pop()!;
      if (seen.has(o)) continue;
      seen.add(o);
      stack.push(...commitLinks(store.read(o)!.data).parents);
    }
  });
  store.close();
}

main()
  .catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
