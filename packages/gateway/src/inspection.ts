/**
 * Inspection of one push, before anything of it reaches the upstream:
 *
 *   spool the pack to disk  ‖  bring the upstream mirror up to date      (concurrently; the
 *                              upstream's refs, advertised after the push arrived, say whether
 *                              the mirror must fetch, after waiting for the fetch the client's
 *                              receive-pack advertisement started: see @pushgate/mirror)
 *   → index the pack: every entry inflated within bounds, every delta resolved (a thin pack's
 *     bases from the mirror), every object id computed, every commit/tree/tag checked strictly
 *   → build the change set over pushed objects ∪ mirror (new commits, file changes; content —
 *     line diffs, added lines — is read on demand through `content` while the push is judged)
 *
 * The result is data: `inspected` (with the change set policy will judge, and the spooled pack,
 * owned by one SpooledPack handle, that the relay will send or the hold store will keep) or
 * `refused` (with the error the client is shown). Either way the record says
 * what was done and how long each stage took, for the audit event.
 */
import { randomUUID } from 'node:crypto';
import { isPushgateError, type Limits, type Logger, type Oid, type ProgressSink } from '@pushgate/core';
import type { InspectionRecord, InspectionTimings } from '@pushgate/audit';
import { ChangeContent, buildChangeSet, summarize, type ChangeSet, type ChangeSetOptions } from '@pushgate/changes';
import type { MirrorLease, MirrorRefsSource, MirrorSource, Mirrors } from '@pushgate/mirror';
import { PushedPackStore, checkObject, type ObjectStore } from '@pushgate/objects';
import type { BlobPrescan } from '@pushgate/policy';
import { indexPack, spoolPack, type IndexedPack } from '@pushgate/pack';
import { decodeAdvertisement, expectsPack, type GitService, type ReceivePackRequest } from '@pushgate/protocol';
import type { Upstream } from '@pushgate/relay';
import { SpooledPack } from './spool';

/** What inspection needs from the gateway. */
export interface InspectionContext {
  readonly mirrors: Mirrors;
  readonly limits: Limits;
  /** Directory for spooled packs (`<dataDir>/spool`). */
  readonly spoolRoot: string;
  readonly changeSetOptions?: ChangeSetOptions;
  readonly logger: Logger;
}

/** One push to inspect. */
export interface InspectionInput {
  readonly request: ReceivePackRequest;
  /** The pack bytes after the commands, still arriving. */
  readonly pack: AsyncIterable<Uint8Array>;
  readonly upstream: Upstream;
  readonly repoPath: string;
  readonly signal: AbortSignal;
  readonly onProgress: ProgressSink;
  /** The upstream's refs, requested when the push arrived (see `upstreamRefs`); without it the mirror always fetches. */
  readonly advertised?: Promise<ReadonlyMap<string, Oid>>;
  /** The policy's prescan of a pack of this size (fed while the pack is indexed), if it has one. */
  readonly prescan?: (packBytes: number) => BlobPrescan | undefined;
}

/**
 * A push that passed inspection. Its pushed objects and the mirror stay readable for `content`
 * until `closeContent()` (once judged; the relay needs neither); `dispose()` closes them too and
 * disposes of the spool (which `spool.persist()` may have handed to the hold store already).
 */
export interface InspectedPush {
  readonly kind: 'inspected';
  readonly changeSet: ChangeSet;
  /** The push's content (line diffs, added lines, new blobs), read on demand. */
  readonly content: ChangeContent;
  /** The pack's blobs, scanned for the policy while the push was inspected (finish() before closeContent()). */
  readonly prescan: BlobPrescan | undefined;
  /** The pack as received, byte for byte, or undefined for a push that only deletes. */
  readonly packPath: string | undefined;
  readonly packBytes: number;
  /** The one owner of the spooled pack (undefined for a push that only deletes). */
  readonly spool: SpooledPack | undefined;
  /** The upstream's refs the change set was built against: what a held push's old ids must match. */
  readonly upstreamRefs: ReadonlyMap<string, Oid>;
  readonly record: InspectionRecord;
  /** How the upstream's refs were learnt (advertised, or fetched into the mirror). */
  readonly mirror: MirrorRefsSource;
  /** Closes the pushed pack's reader and releases the mirror (idempotent). */
  closeContent(): void;
  dispose(): Promise<void>;
}

/** A push that failed inspection: nothing of it may reach the upstream. */
export interface RefusedPush {
  readonly kind: 'refused';
  readonly error: unknown;
  readonly record: InspectionRecord;
  /** How the upstream's refs were learnt, when the mirror was reached. */
  readonly mirror?: MirrorRefsSource;
}

/** The result of inspecting a push. */
export type Inspection = InspectedPush | RefusedPush;

/** How long the rest of a refused push's body is read (and discarded) so the client can read the answer. */
const DRAIN_MS = 30_000;

/**
 * Bytes of an upstream's ref advertisement read to learn its refs: about 150,000 refs. Beyond
 * that the refs are not learnt this way and the mirror fetches, as it would without them.
 */
export const MAX_ADVERTISEMENT_BYTES = 16 * 1024 * 1024;

/**
 * The change-set builder's caches as the gateway runs it: parsed trees 16 MiB and blobs 8 MiB
 * rather than the builder's 64 and 32. On the 6000-commit, 38 MB thin push of
 * scripts/bench/push.ts this lowers the inspection's peak RSS by ~50 MB (418 → 366 MB) at the same
 * speed (change set 3.9 s vs 3.8 s, medians of 3); smaller still saves little and costs time.
 */
export const GATEWAY_CHANGESET_OPTIONS: ChangeSetOptions = Object.freeze({ treeCacheBytes: 16 * 1024 * 1024, blobCacheBytes: 8 * 1024 * 1024 });

/** Where the mirror of `repoPath` at `upstream` fetches from. */
export function mirrorSource(upstream: Upstream, repoPath: string): MirrorSource {
  return { upstream: upstream.name, repoPath, url: upstream.repoUrl(repoPath), authorization: upstream.authorization() };
}

/**
 * The upstream's refs under refs/ (those the mirror's `+refs/*:refs/*` fetch takes), read from
 * its git-upload-pack advertisement (protocol v0: every ref, one request, no process spawned).
 * Rejects when they cannot be read; the mirror then fetches, which reports the upstream's error.
 */
export async function upstreamRefs(upstream: Upstream, repoPath: string, signal: AbortSignal): Promise<ReadonlyMap<string, Oid>> {
  const res = await upstream.request({ method: 'GET', repoPath, endpoint: 'info/refs', query: 'service=git-upload-pack', headers: {}, signal });
  return advertisedRefs(bounded(res.body, MAX_ADVERTISEMENT_BYTES), 'git-upload-pack');
}

/**
 * The refs under refs/ of a v0/v1 ref advertisement: what the mirror's `+refs/*:refs/*` fetch
 * takes. Peeled values, `.have` lines (objects of the server's alternates, not refs) and the
 * `capabilities^{}` placeholder of an empty repository are left out by the decoder.
 */
export async function advertisedRefs(source: AsyncIterable<Uint8Array>, service: GitService): Promise<ReadonlyMap<string, Oid>> {
  const advertisement = await decodeAdvertisement(source, { service });
  if (advertisement.version === 2) throw new Error('the upstream answered with a protocol v2 capability advertisement');
  const refs = new Map<string, Oid>();
  for (const [name, oid] of advertisement.refs) if (name.startsWith('refs/')) refs.set(name, oid);
  return refs;
}

async function* bounded(source: AsyncIterable<Uint8Array>, max: number): AsyncGenerator<Uint8Array> {
  let bytes = 0;
  for await (const chunk of source) {
    bytes += chunk.byteLength;
    if (bytes > max) throw new Error(`the upstream's ref advertisement exceeds ${max} bytes`);
    yield chunk;
  }
}

/** Inspects one push (see the module comment). Never throws; failures are `refused`. */
export async function inspectPush(input: InspectionInput, ctx: InspectionContext): Promise<Inspection> {
  const started = performance.now();
  const timings: InspectionTimings = {};
  const record: { -readonly [K in keyof InspectionRecord]: InspectionRecord[K] } = { timings };
  let spool: SpooledPack | undefined;
  const body = detachable(input.pack);
  let lease: MirrorLease | undefined;
  /** How the upstream's refs were learnt (the open that may have fetched, not the later hold). */
  let refsFrom: MirrorRefsSource | undefined;
  let pushed: PushedPackStore | undefined;
  let prescan: BlobPrescan | undefined;
  /** Set once the push passed: the reader and the lease then live until closeContent(). */
  let passed = false;
  try {
    const wantsPack = expectsPack(input.request);
    if (wantsPack) spool = await SpooledPack.create(ctx.spoolRoot, randomUUID());
    const packPath = spool?.path ?? '';
    const stage = <T>(key: keyof InspectionTimings, run: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      return run().finally(() => (timings[key] = Math.round(performance.now() - t)));
    };
    // The pack arrives while the mirror is brought up to date; both must succeed. The mirror is not
    // held while the client sends: a client that sends slowly, or stalls, would keep every other
    // push to the repository from fetching (a fetch waits for all holds). It is held once the pack
    // is on disk, with the refs just learnt, which it now has: no second fetch.
    const source = mirrorSource(input.upstream, input.repoPath);
    const [spooled, updated] = await Promise.allSettled([
      wantsPack ? stage('spoolMs', () => spoolPack(body.view, packPath, { limits: ctx.limits, onProgress: input.onProgress, signal: input.signal })) : Promise.resolve(undefined),
      stage('mirrorMs', async () => {
        const first = await ctx.mirrors.open(source, { signal: input.signal, advertised: input.advertised });
        first.release();
        return { refs: first.refs, refsFrom: first.refsFrom };
      }),
    ]);
    if (updated.status === 'fulfilled') refsFrom = updated.value.refsFrom;
    if (spooled.status === 'rejected') throw spooled.reason;
    if (updated.status === 'rejected') throw updated.reason;
    lease = await ctx.mirrors.open(source, { signal: input.signal, advertised: Promise.resolve(updated.value.refs) });
    record.upstream = { refs: lease.refs.size, pushedRefs: Object.fromEntries(input.request.commands.map((c) => [c.ref, lease!.refs.get(c.ref) ?? null])) };
    const mirrorObjects = lease.objects;

    let store: ObjectStore = mirrorObjects;
    let indexed: IndexedPack | undefined;
    if (spooled.value !== undefined) {
      const ahead = (prescan = input.prescan?.(spooled.value.bytes));
      indexed = await stage('indexMs', () =>
        indexPack(packPath, {
          limits: ctx.limits,
          spooled: spooled.value,
          external: (oid) => mirrorObjects.read(oid),
          // Like receive.fsckObjects: hostile trees (.git, .., /), malformed commits and tags are refused here.
          onObject: (o) => {
            if (o.type !== 'blob') checkObject(o.type, o.data, { oid: o.oid });
            else ahead?.add(o.oid, o.data, o.delta);
          },
          onProgress: input.onProgress,
          signal: input.signal,
        }),
      );
      record.pack = {
        bytes: indexed.packBytes,
        objects: indexed.objectCount,
        checksum: indexed.packChecksum,
        ofsDeltas: indexed.deltas.ofs,
        refDeltas: indexed.deltas.ref,
        thinBases: indexed.externalBases.length,
        maxDeltaDepth: indexed.maxDeltaDepth,
      };
      // Blobs the prescan had no room for are read from the pack by its worker while the change set is built.
      prescan?.indexed({ packPath, idxPath: indexed.idxPath, mirrorGitDir: lease.gitDir, limits: ctx.limits });
      pushed = PushedPackStore.open(packPath, indexed.idxPath, { limits: ctx.limits, base: mirrorObjects });
      store = pushed.withBase();
    }

    const changeSet = await stage('changesMs', () =>
      buildChangeSet({
        commands: input.request.commands,
        store,
        mirror: mirrorObjects,
        mirrorGitDir: lease!.gitDir,
        upstreamRefs: lease!.refs,
        limits: ctx.limits,
        options: ctx.changeSetOptions,
        onProgress: input.onProgress,
        signal: input.signal,
      }),
    );
    record.changes = summarize(changeSet);
    timings.totalMs = Math.round(performance.now() - started);
    const content = new ChangeContent({ changeSet, store, mirror: mirrorObjects, options: ctx.changeSetOptions, signal: input.signal });
    const openPack = pushed;
    const openLease = lease;
    const openPrescan = prescan;
    let open = true;
    const closeContent = (): void => {
      if (!open) return;
      open = false;
      // Its worker may still read the pack and the mirror: it is told to stop first.
      openPrescan?.cancel();
      openPack?.close();
      openLease.release();
    };
    passed = true;
    return {
      kind: 'inspected',
      changeSet,
      content,
      prescan,
      packPath: indexed === undefined ? undefined : packPath,
      packBytes: indexed?.packBytes ?? 0,
      spool: indexed === undefined ? undefined : spool,
      upstreamRefs: openLease.refs,
      record,
      mirror: updated.value.refsFrom,
      closeContent,
      dispose: async () => {
        closeContent();
        await spool?.dispose();
      },
    };
  } catch (error) {
    timings.totalMs = Math.round(performance.now() - started);
    if (!isPushgateError(error)) ctx.logger.error('push inspection failed unexpectedly', { error: error instanceof Error ? error.stack : String(error) });
    // What the client still sends is read and dropped, so it can read the refusal (a server that
    // stops reading makes the client's write fail before it sees any answer).
    await body.drain(DRAIN_MS);
    return { kind: 'refused', error, record, mirror: refsFrom };
  } finally {
    if (!passed) {
      prescan?.cancel();
      pushed?.close();
      lease?.release();
      await spool?.dispose();
    }
  }
}

/**
 * A view of a byte stream that consumers can stop reading without closing it (`for await … break`
 * would otherwise end the request body), so the rest can still be drained.
 */
function detachable(source: AsyncIterable<Uint8Array>): { view: AsyncIterable<Uint8Array>; drain(ms: number): Promise<void> } {
  const it = source[Symbol.asyncIterator]();
  let done = false;
  const next = async (): Promise<IteratorResult<Uint8Array>> => {
    if (done) return { done: true, value: undefined };
    const r = await it.next();
    if (r.done) done = true;
    return r;
  };
  return {
    view: {
      [Symbol.asyncIterator]: () => ({ next, return: async () => ({ done: true, value: undefined }) }),
    },
    async drain(ms) {
      const until = performance.now() + ms;
      try {
        while (!done && performance.now() < until) await next();
      } catch {
        done = true; // the body itself failed (client gone, corrupt gzip): nothing left to read
      }
      if (!done) await it.return?.();
    },
  };
}
