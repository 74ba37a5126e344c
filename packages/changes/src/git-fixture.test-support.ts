/**
 * Test support (imported only by tests): the git fixtures of @pushgate/objects (repositories
 * built with the real git CLI, isolated and with fixed dates; thin packs as `git push` sends
 * them), PushScenario, a push as the gateway receives it, and inspectScenario, its change set.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_LIMITS, type Oid, type ProgressEvent, type RefUpdate } from '@pushgate/core';
import { GitDirObjectStore, PushedPackStore, checkObject, type ObjectStore } from '@pushgate/objects';
import { GitFixture } from '@pushgate/objects/test-support';
import { indexPack } from '@pushgate/pack';
import { ChangeContent, buildChangeSet, type ChangeSet, type ChangeSetOptions } from './index';

export { GitFixture, thinPack, type PackFiles } from '@pushgate/objects/test-support';

/**
 * An upstream mirror (bare) and a working clone of it: the test commits in the clone, `push`
 * inspects what `git push` would send, `accept` lets the "upstream" take it.
 */
export class PushScenario {
  readonly mirror: GitFixture;
  readonly work: GitFixture;
  private pushes = 0;

  private constructor(mirror: GitFixture, work: GitFixture) {
    this.mirror = mirror;
    this.work = work;
  }

  /** A mirror with `main` holding one commit, and a clone of it. */
  static create(prefix: string, seed: (work: GitFixture) => void = (w) => {
    w.write('README.md', '# project\n');
    w.commit('initial');
  }): PushScenario {
    const work = GitFixture.create(`${prefix}-work`);
    seed(work);
    const mirror = GitFixture.create(`${prefix}-mirror`, { bare: true });
    mirror.git('config', 'transfer.unpackLimit', '1');
    mirror.git('fetch', '-q', work.dir, '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*');
    return new PushScenario(mirror, work);
  }

  /** The mirror's refs (the upstream's refs at push time). */
  upstreamRefs(): Map<string, string> {
    const out = new Map<string, string>();
    for (const line of this.mirror.git('for-each-ref', '--format=%(objectname) %(refname)').trim().split('\n')) {
      if (!line) continue;
      const [oid, ref] = line.split(' ');
      out.set(ref, oid);
    }
    return out;
  }

  /** The id `rev` names in the working clone. */
  rev(rev: string): string {
    return this.work.git('rev-parse', rev).trim();
  }

  /**
   * The push as the gateway receives it: the thin pack `git push` would send, indexed by
   * @pushgate/pack's indexPack with the mirror as the source of outside bases, every object run
   * through the strict checks on the way (as the gateway's pipeline does).
   */
  async receive(
    updates: Record<string, string | null>,
    mirror: ObjectStore,
    old: Record<string, string> = {},
  ): Promise<{ commands: { ref: string; oldOid: string; newOid: string }[]; pack?: { packPath: string; idxPath: string; objects: number } }> {
    const zero = '0'.repeat(40);
    const refs = this.upstreamRefs();
    const commands = Object.entries(updates).map(([ref, next]) => ({ ref, oldOid: old[ref] ?? refs.get(ref) ?? zero, newOid: next ?? zero }));
    const tips = commands.filter((c) => c.newOid !== zero).map((c) => c.newOid);
    if (tips.length === 0) return { commands };
    // As git push does: exclude what the remote advertised, where the pusher has it.
    const advertised = [...new Set(refs.values())];
    const have = this.work
      .gitBytes(['cat-file', '--batch-check=%(objectname)'], `${advertised.join('\n')}\n`)
      .toString('latin1')
      .split('\n')
      .filter((l) => /^[0-9a-f]{40}$/.test(l));
    const bytes = this.work.gitBytes(['pack-objects', '--thin', '--stdout', '--revs', '-q'], `${[...tips, ...have.map((h) => `^${h}`)].join('\n')}\n`);
    const dir = join(this.mirror.dir, '..', `${this.mirror.dir.split('/').pop()}-push-${++this.pushes}`);
    mkdirSync(dir, { recursive: true });
    const packPath = join(dir, 'push.pack');
    writeFileSync(packPath, bytes);
    let objects = 0;
    const indexed = await indexPack(packPath, {
      limits: DEFAULT_LIMITS,
      external: (oid) => mirror.read(oid),
      onObject: (o) => {
        checkObject(o.type, o.data, { oid: o.oid });
        objects++;
      },
    });
    return { commands, pack: { packPath, idxPath: indexed.idxPath, objects } };
  }

  /** The upstream takes the given refs from the working clone. */
  accept(refspecs: string[]): void {
    this.mirror.git('fetch', '-q', this.work.dir, ...refspecs);
  }

  /** Removes everything. */
  cleanup(): void {
    for (const d of readdirSync(join(this.mirror.dir, '..'))) {
      if (d.startsWith(`${this.mirror.dir.split('/').pop()}-push-`)) rmSync(join(this.mirror.dir, '..', d), { recursive: true, force: true });
    }
    this.mirror.cleanup();
    this.work.cleanup();
  }
}

/** What inspectScenario passes on. */
export interface InspectOptions {
  /** Old values to claim for refs (default: the mirror's). */
  readonly old?: Record<string, string>;
  readonly options?: ChangeSetOptions;
  readonly limits?: Partial<typeof DEFAULT_LIMITS>;
  readonly onProgress?: (e: ProgressEvent) => void;
  readonly signal?: AbortSignal;
}

/** The change set of pushing `updates` from the scenario's clone, as the gateway builds it (pushed pack ∪ mirror). */
export async function inspectScenario(s: PushScenario, updates: Record<string, string | null>, o: InspectOptions = {}): Promise<ChangeSet> {
  return withContent(s, updates, o, async (changeSet) => changeSet);
}

/** Builds the change set as inspectScenario does and hands it, with its content reader, to `use` while the objects are open. */
export async function withContent<T>(
  s: PushScenario,
  updates: Record<string, string | null>,
  o: InspectOptions,
  use: (changeSet: ChangeSet, content: ChangeContent) => Promise<T>,
): Promise<T> {
  const limits = { ...DEFAULT_LIMITS, ...o.limits };
  const mirror = GitDirObjectStore.open(s.mirror.dir, { limits });
  const { commands, pack } = await s.receive(updates, mirror, o.old);
  const pushed = pack ? PushedPackStore.open(pack.packPath, pack.idxPath, { limits, base: mirror }) : undefined;
  try {
    const store = pushed ? pushed.withBase() : mirror;
    const changeSet = await buildChangeSet({
      commands: commands as RefUpdate[],
      store,
      mirror,
      mirrorGitDir: s.mirror.dir,
      upstreamRefs: s.upstreamRefs() as Map<string, Oid>,
      limits,
      ...(o.options ? { options: o.options } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return await use(changeSet, new ChangeContent({ changeSet, store, mirror, ...(o.options ? { options: o.options } : {}) }));
  } finally {
    pushed?.close();
    mirror.close();
  }
}

/** Deterministic PRNG (mulberry32) so a failure can be reproduced from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
