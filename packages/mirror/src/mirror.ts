/**
 * Per-repository bare mirrors of the upstream, under `<dataDir>/mirrors/<upstream>/<repo>.git`.
 * A push is inspected against the upstream's refs at push time and the mirror's objects (thin-pack
 * bases, ancestry, parent trees). The mirror gains objects only by fetching (`+refs/*:refs/*`,
 * pruned, with the gateway's own credential), and a fetch brings everything the fetched refs reach;
 * so once every value of the upstream's current refs is in the mirror, the mirror holds all they
 * reach and a fetch would bring nothing an inspection reads. `open` therefore takes the upstream's
 * refs as advertised after the push arrived, and fetches only when one of them is missing (or the
 * advertisement could not be read). After a relayed push, `refresh` fetches what it added in the
 * background, so the next push usually finds the mirror current. When the upstream moved otherwise
 * (a merge on the forge, a bot's push), `prefetch` starts the fetch as soon as the client asks for
 * the receive-pack advertisement, whose refs the gateway relays: it then overlaps the client's
 * packing and upload, and the push's `open` waits for it and fetches only what is still missing.
 * Fetches of a mirror are serialised by its lock and each re-checks under it, so a refresh, a
 * prefetch and a push's own fetch never bring the same objects twice. Fetches are incremental;
 * packs are kept as packs (transfer.unpackLimit=1) so the object store reads them through their
 * indexes.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { PushgateError, isOid, silentLogger, type Limits, type Logger, type Oid } from '@pushgate/core';
import { GitDirObjectStore, type ObjectStore } from '@pushgate/objects';
import { gitOk, runGit } from './git';
import { KeyedRwLock, type Release } from './lock';

/** Where a mirror fetches from. */
export interface MirrorSource {
  /** The upstream's name in config. */
  readonly upstream: string;
  /** The repository path under the upstream, already validated by the gateway (e.g. `team/app.git`). */
  readonly repoPath: string;
  /** The repository's URL at the upstream. */
  readonly url: string;
  /** The `Authorization` header value of the gateway's credential for this upstream, if any. */
  readonly authorization?: string;
}

/** How a lease's refs were learnt. */
export type MirrorRefsSource =
  /** The upstream's advertisement, every value of which the mirror held (once fetches in flight had ended): this push fetched nothing. */
  | 'advertisement'
  /** A fetch into the mirror made for this push. */
  | 'fetch';

/** Why the mirror fetched. */
export type MirrorFetchReason =
  /** A push's `open` found a value of the upstream's refs missing. */
  | 'push'
  /** A ref advertisement for push named a value the mirror lacked (see `prefetch`). */
  | 'prefetch'
  /** A relayed push added objects (see `refresh`). */
  | 'refresh';

/** One fetch into a mirror, as reported to `MirrorsOptions.onFetch`. */
export interface MirrorFetchEvent {
  readonly upstream: string;
  readonly repoPath: string;
  readonly reason: MirrorFetchReason;
  readonly ok: boolean;
  readonly ms: number;
}

/** A mirror brought up to date for one push, held for reading until `release()`. */
export interface MirrorLease {
  readonly gitDir: string;
  /** The upstream's refs under refs/ at push time (name → id; peeled values are not included). */
  readonly refs: ReadonlyMap<string, Oid>;
  readonly refsFrom: MirrorRefsSource;
  /** When the refs were learnt. */
  readonly fetchedAt: Date;
  /** How long bringing the mirror up to date took (waiting for the lock included). */
  readonly fetchMs: number;
  /**
   * The mirror's objects, current as of this fetch. Shared by every lease of the mirror and valid
   * until `release()`: packs only disappear under the exclusive lock, when no lease is held.
   */
  readonly objects: ObjectStore;
  /** Ends the shared hold; maintenance (repack) waits for every lease to be released. */
  release(): void;
}

/** Codes of MirrorError. */
export type MirrorErrorCode =
  | 'MIRROR_UPSTREAM_UNREACHABLE'
  | 'MIRROR_UPSTREAM_AUTH_REFUSED'
  | 'MIRROR_REPO_NOT_FOUND'
  | 'MIRROR_FETCH_FAILED'
  | 'MIRROR_BAD_PATH'
  /** The upstream repository uses SHA-256 object ids, which pushgate does not support. */
  | 'MIRROR_UNSUPPORTED_OBJECT_FORMAT';

/** The mirror could not be brought up to date; a push is refused when this happens (never fail open). */
export class MirrorError extends PushgateError<MirrorErrorCode, { upstream: string; repoPath: string }> {
  constructor(code: MirrorErrorCode, message: string, source: { upstream: string; repoPath: string }, cause?: unknown) {
    // An unsupported repository is the request's problem, as when its advertisement says so (400);
    // every other failure is the upstream's (502).
    const status = code === 'MIRROR_UNSUPPORTED_OBJECT_FORMAT' ? 400 : 502;
    super(code, message, { data: { upstream: source.upstream, repoPath: source.repoPath }, cause, delivery: { kind: 'http', status } });
  }
}

/** Options of Mirrors.open. */
export interface MirrorOpenOptions {
  readonly signal?: AbortSignal;
  /**
   * The upstream's refs under refs/, from an advertisement requested after the push arrived. When
   * the mirror holds every value, no fetch is made and the lease carries these refs; when the
   * promise rejects or a value is missing, the mirror fetches (and the lease carries the fetched refs).
   */
  readonly advertised?: Promise<ReadonlyMap<string, Oid>>;
}

/** Options of Mirrors. */
export interface MirrorsOptions {
  /** Directory holding all mirrors (`<dataDir>/mirrors`). */
  readonly root: string;
  readonly logger?: Logger;
  /** Repack (geometric) when a mirror has more packs than this; each push's fetch adds one. */
  readonly maxPacks?: number;
  /** Longest a fetch may take. */
  readonly fetchTimeoutMs?: number;
  /** Removes secrets from text that came from git (stderr) before it is logged or shown. */
  readonly mask?: (text: string) => string;
  /** Bounds for reading mirror objects (object size, delta depth). */
  readonly limits: Pick<Limits, 'maxObjectBytes' | 'maxDeltaDepth'>;
  /** How long a mirror's object store stays open once no push uses it (default one minute). */
  readonly storeIdleMs?: number;
  /** Unused stores kept open at most; beyond this the least recently used are closed (default 16). */
  readonly maxIdleStores?: number;
  /** Bytes of resolved objects each mirror's store keeps, for all its packs together, while open (the object store's default when unset). */
  readonly cacheBytes?: number;
  /** Told of every fetch into a mirror once it ends (for metrics). */
  readonly onFetch?: (event: MirrorFetchEvent) => void;
}

const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The set of mirrors kept by one gateway process. */
export class Mirrors {
  private readonly locks = new KeyedRwLock();
  private readonly logger: Logger;
  private readonly maxPacks: number;
  private readonly fetchTimeoutMs: number;
  private readonly mask: (text: string) => string;
  private readonly root: string;
  private readonly limits: MirrorsOptions['limits'];
  /** One object store per mirror, kept open across pushes and refreshed after each fetch. */
  private readonly stores = new Map<string, GitDirObjectStore>();
  /** Background refreshes waiting for their mirror's lock, with the ids they were asked to bring. */
  private readonly queued = new Map<string, { readonly oids: Set<Oid>; readonly done: Promise<void> }>();
  /** Every background refresh and prefetch not finished yet (close() and settled() wait for them). */
  private readonly background = new Set<Promise<void>>();
  /** The prefetch of each mirror, from the advertisement that started it until its fetch (if any) ended. */
  private readonly prefetches = new Map<string, Promise<void>>();
  private readonly onFetch: (event: MirrorFetchEvent) => void;
  /** Aborts background fetches at close(). */
  private readonly closing = new AbortController();
  /**
   * Leases outstanding and last use, per mirror. A store holds a file and read buffers per pack
   * (and a delta-base cache each); a gateway serving many repositories must not keep them all.
   */
  private readonly usage = new Map<string, { leases: number; lastUsed: number }>();
  private readonly storeIdleMs: number;
  private readonly maxIdleStores: number;
  private readonly cacheBytes: number | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(options: MirrorsOptions) {
    this.limits = options.limits;
    this.root = resolve(options.root);
    this.logger = options.logger ?? silentLogger;
    this.maxPacks = options.maxPacks ?? 32;
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? 10 * 60_000;
    this.mask = options.mask ?? ((s) => s);
    this.storeIdleMs = options.storeIdleMs ?? 60_000;
    this.maxIdleStores = options.maxIdleStores ?? 16;
    this.cacheBytes = options.cacheBytes;
    this.onFetch = options.onFetch ?? (() => undefined);
  }

  /** The mirror directory of a repository. */
  pathFor(source: Pick<MirrorSource, 'upstream' | 'repoPath'>): string {
    const segments = [source.upstream, ...source.repoPath.split('/')];
    if (segments.some((s) => !SAFE_SEGMENT.test(s) || s.endsWith('.lock'))) {
      throw new MirrorError('MIRROR_BAD_PATH', `unsafe mirror path ${source.upstream}/${source.repoPath}`, source);
    }
    const last = segments.length - 1;
    if (!segments[last].endsWith('.git')) segments[last] += '.git';
    const dir = join(this.root, ...segments);
    if (!dir.startsWith(this.root + sep)) throw new MirrorError('MIRROR_BAD_PATH', `mirror path escapes its root`, source);
    return dir;
  }

  /**
   * Returns the mirror of `source`, up to date for a push, held for reading: with the advertised
   * refs when it holds all they reach (see the module comment), else after a fetch. Fetches of one
   * repository are serialised; a push arriving during one (a prefetch, a refresh, another push's)
   * waits for it and may then need none.
   */
  async open(source: MirrorSource, options: MirrorOpenOptions = {}): Promise<MirrorLease> {
    const gitDir = this.pathFor(source);
    const started = performance.now();
    // A fetch the push's ref advertisement started (see prefetch) is waited for: what it brings
    // need not be fetched again, and a second fetch would only queue behind it for the lock.
    const [advertised] = await Promise.all([options.advertised?.catch(() => undefined), this.prefetches.get(gitDir)]);
    if (advertised !== undefined) {
      // Shared: waits for a fetch in progress (a background refresh), never for other pushes.
      const release = await this.locks.read(gitDir);
      let objects: GitDirObjectStore | undefined;
      try {
        objects = this.existingStore(gitDir);
        if (objects !== undefined && !(await holdsAll(objects, advertised.values()))) objects = undefined;
      } catch (e) {
        release();
        throw e;
      }
      if (objects !== undefined) {
        return { gitDir, refs: advertised, refsFrom: 'advertisement', fetchedAt: new Date(), fetchMs: performance.now() - started, objects, release: this.leased(gitDir, release) };
      }
      release();
    }
    const releaseWrite = await this.locks.write(gitDir);
    let refs: Map<string, Oid>;
    let objects: GitDirObjectStore;
    try {
      // A fetch that held the lock while this push waited for it (a prefetch or a background
      // refresh that started late) may have brought everything: then this push fetches nothing.
      if (advertised !== undefined) {
        const known = this.existingStore(gitDir);
        if (known !== undefined && (await holdsAll(known, advertised.values()))) {
          releaseWrite();
          return this.leaseAdvertised(gitDir, advertised, started);
        }
      }
      await this.ensureInitialised(gitDir);
      await this.fetch(gitDir, source, 'push', options.signal);
      refs = await readRefs(gitDir);
      await this.maybeRepack(gitDir);
      // Refreshed under the exclusive lock: no lease is reading the store while packs change.
      objects = this.storeFor(gitDir);
    } finally {
      releaseWrite();
    }
    // Between the exclusive fetch and the shared hold another fetch may slip in; that only adds
    // objects and moves refs forward, which the upstream's own compare-and-swap settles at relay.
    const release: Release = await this.locks.read(gitDir);
    const fetchMs = performance.now() - started;
    return { gitDir, refs, refsFrom: 'fetch', fetchedAt: new Date(), fetchMs, objects, release: this.leased(gitDir, release) };
  }

  /**
   * Starts bringing the mirror of `source` up to date for a push that is probably coming: `refs` are
   * the upstream's refs as its receive-pack advertisement just named them to a client (resolving
   * once that advertisement has been read; rejecting when it could not be). When the mirror lacks
   * one of their values it fetches in the background, like `refresh`, so the fetch overlaps the
   * client's packing and upload, and the push's `open` waits for it. Returns at once and never
   * fails: nothing of it is bound to the client's connection, one prefetch per mirror is in flight
   * at most (a later request while it is joins it: the push fetches whatever it left missing), and
   * a failure is logged and leaves the push to fetch for itself.
   */
  prefetch(source: MirrorSource, refs: Promise<ReadonlyMap<string, Oid>>): void {
    refs.catch(() => undefined);
    if (this.closing.signal.aborted) return;
    let gitDir: string;
    try {
      gitDir = this.pathFor(source);
    } catch {
      return;
    }
    if (this.prefetches.has(gitDir)) return;
    const done = (async () => {
      const wanted = await refs.catch(() => undefined);
      if (wanted === undefined || wanted.size === 0 || this.closing.signal.aborted) return;
      // Checked under the shared lock first: asking for the exclusive one would hold up every
      // push that then asks to read the mirror, and a current mirror is the common case.
      const release = await this.locks.read(gitDir);
      let current: boolean;
      try {
        const known = this.existingStore(gitDir);
        current = known !== undefined && (await holdsAll(known, wanted.values()));
      } finally {
        release();
      }
      if (!current) await this.refresh(source, wanted.values(), 'prefetch');
    })().catch((e: unknown) => {
      this.logger.warn('mirror prefetch failed; the next push fetches for itself', {
        upstream: source.upstream,
        repo: source.repoPath,
        error: this.mask(e instanceof Error ? e.message : String(e)),
      });
    });
    this.prefetches.set(gitDir, done);
    this.background.add(done);
    void done.finally(() => {
      this.prefetches.delete(gitDir);
      this.background.delete(done);
    });
  }

  /** Resolves once no background refresh or prefetch is in flight (tests and benchmarks wait on it). */
  async settled(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  /**
   * Fetches into the mirror of `source` in the background when it lacks one of `oids` (what the
   * upstream's refs now point at, e.g. a push just relayed), so that the next push need not wait
   * for that fetch. Requests made while one waits for the mirror's lock join it. Never rejects:
   * a failure is logged, and the next push fetches for itself.
   */
  refresh(source: MirrorSource, oids: Iterable<Oid>, reason: MirrorFetchReason = 'refresh'): Promise<void> {
    if (this.closing.signal.aborted) return Promise.resolve();
    let gitDir: string;
    try {
      gitDir = this.pathFor(source);
    } catch {
      return Promise.resolve();
    }
    const waiting = this.queued.get(gitDir);
    if (waiting !== undefined) {
      for (const oid of oids) waiting.oids.add(oid);
      return waiting.done;
    }
    const wanted = new Set(oids);
    const done = (async () => {
      const release = await this.locks.write(gitDir);
      // From here on, a new request queues a fetch of its own: this one may have started too early for it.
      this.queued.delete(gitDir);
      const started = performance.now();
      try {
        if (this.closing.signal.aborted) return;
        const known = this.existingStore(gitDir);
        if (known !== undefined && (await holdsAll(known, wanted))) return;
        await this.ensureInitialised(gitDir);
        await this.fetch(gitDir, source, reason, this.closing.signal);
        await this.maybeRepack(gitDir);
        if (!this.closing.signal.aborted) this.storeFor(gitDir);
        this.logger.debug('mirror refreshed in the background', { upstream: source.upstream, repo: source.repoPath, reason, ms: Math.round(performance.now() - started) });
      } catch (e) {
        if (!this.closing.signal.aborted) {
          this.logger.warn('background mirror refresh failed; the next push fetches for itself', {
            upstream: source.upstream,
            repo: source.repoPath,
            reason,
            error: this.mask(e instanceof Error ? e.message : String(e)),
          });
        }
      } finally {
        release();
      }
    })();
    this.queued.set(gitDir, { oids: wanted, done });
    this.background.add(done);
    void done.finally(() => this.background.delete(done));
    return done;
  }

  /**
   * A lease with the advertised refs, once a fetch made while this push waited brought all they
   * reach. A mirror never loses objects (fetches add, repacks keep), so the shared hold taken after
   * the exclusive one still finds them.
   */
  private async leaseAdvertised(gitDir: string, refs: ReadonlyMap<string, Oid>, started: number): Promise<MirrorLease> {
    const release = await this.locks.read(gitDir);
    const objects = this.existingStore(gitDir);
    if (objects === undefined) {
      release();
      throw new Error(`the mirror ${gitDir} disappeared while held`);
    }
    return { gitDir, refs, refsFrom: 'advertisement', fetchedAt: new Date(), fetchMs: performance.now() - started, objects, release: this.leased(gitDir, release) };
  }

  /** Stops background fetches and closes the object stores (at shutdown, once no push is being inspected). */
  async close(): Promise<void> {
    this.closing.abort();
    clearTimeout(this.sweeper);
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
    for (const store of this.stores.values()) store.close();
    this.stores.clear();
  }

  /** Mirrors whose object store is open now. */
  get openStores(): number {
    return this.stores.size;
  }

  /** Counts a lease on `gitDir`; the release it returns ends it (once) and lets the store go idle. */
  private leased(gitDir: string, release: Release): Release {
    const use = this.usage.get(gitDir) ?? { leases: 0, lastUsed: 0 };
    use.leases++;
    this.usage.set(gitDir, use);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
      use.leases--;
      use.lastUsed = performance.now();
      // Over the count bound, close at once rather than a minute later.
      if (this.idleStores().length > this.maxIdleStores) this.sweep();
      this.scheduleSweep();
    };
  }

  /** Marks `gitDir`'s store as just used (a fetch refreshed it), so it is not closed as idle right away. */
  private touch(gitDir: string): void {
    const use = this.usage.get(gitDir);
    if (use !== undefined) use.lastUsed = performance.now();
    else this.usage.set(gitDir, { leases: 0, lastUsed: performance.now() });
    this.scheduleSweep();
  }

  private scheduleSweep(): void {
    if (this.sweeper !== undefined || this.closing.signal.aborted || this.stores.size === 0) return;
    this.sweeper = setTimeout(() => {
      this.sweeper = undefined;
      this.sweep();
      this.scheduleSweep();
    }, this.storeIdleMs);
    this.sweeper.unref();
  }

  private idleStores(): string[] {
    return [...this.stores.keys()].filter((d) => (this.usage.get(d)?.leases ?? 0) === 0);
  }

  /** Closes stores unused for storeIdleMs, and the least recently used beyond maxIdleStores. */
  private sweep(): void {
    const now = performance.now();
    const idle = this.idleStores().sort((a, b) => (this.usage.get(a)?.lastUsed ?? 0) - (this.usage.get(b)?.lastUsed ?? 0));
    let excess = idle.length - this.maxIdleStores;
    for (const gitDir of idle) {
      const expired = now - (this.usage.get(gitDir)?.lastUsed ?? 0) >= this.storeIdleMs;
      if (!expired && excess <= 0) continue;
      // Only when nobody holds or waits for the mirror: a fetch in progress keeps its store.
      const release = this.locks.tryWrite(gitDir);
      if (release === undefined) continue;
      try {
        this.stores.get(gitDir)?.close();
        this.stores.delete(gitDir);
        this.usage.delete(gitDir);
        excess--;
      } finally {
        release();
      }
    }
  }

  /** The mirror's store if the mirror exists; opened from disk after a restart (no fetch is running: the caller holds a lock). */
  private existingStore(gitDir: string): GitDirObjectStore | undefined {
    const known = this.stores.get(gitDir);
    if (known !== undefined || this.closing.signal.aborted) return known;
    if (!existsSync(join(gitDir, 'HEAD'))) return undefined;
    return this.openStore(gitDir);
  }

  /** The mirror's store, refreshed after a fetch (under the exclusive lock). */
  private storeFor(gitDir: string): GitDirObjectStore {
    const known = this.stores.get(gitDir);
    if (known === undefined) return this.openStore(gitDir);
    known.refresh();
    this.touch(gitDir);
    return known;
  }

  private openStore(gitDir: string): GitDirObjectStore {
    const store = GitDirObjectStore.open(gitDir, {
      limits: this.limits,
      ...(this.cacheBytes === undefined ? {} : { cacheBytes: this.cacheBytes }),
    });
    this.stores.set(gitDir, store);
    this.touch(gitDir);
    return store;
  }

  private async ensureInitialised(gitDir: string): Promise<void> {
    try {
      await stat(join(gitDir, 'HEAD'));
      return;
    } catch {
      // not there yet
    }
    await mkdir(gitDir, { recursive: true });
    await gitOk(['init', '--bare', '--quiet', gitDir]);
    const settings: [string, string][] = [
      ['transfer.unpackLimit', '1'], // keep every fetch as a pack: the object store reads packs by index
      ['gc.auto', '0'], // maintenance is ours, under the lock
      ['core.logAllRefUpdates', 'false'],
      ['fetch.writeCommitGraph', 'true'], // fast ancestry queries (rev-list, merge-base)
      ['http.followRedirects', 'false'], // the upstream URL is the only host we talk to
      ['http.lowSpeedLimit', '1000'],
      ['http.lowSpeedTime', '60'],
    ];
    for (const [k, v] of settings) await gitOk(['config', k, v], { cwd: gitDir });
  }

  private async fetch(gitDir: string, source: MirrorSource, reason: MirrorFetchReason, signal?: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(this.fetchTimeoutMs);
    const config: Record<string, string> = {};
    if (source.authorization) config['http.extraHeader'] = `Authorization: ${source.authorization}`;
    const started = performance.now();
    const report = (ok: boolean): void => this.onFetch({ upstream: source.upstream, repoPath: source.repoPath, reason, ok, ms: performance.now() - started });
    const result = await runGit(
      ['fetch', '--prune', '--no-tags', '--no-write-fetch-head', '--quiet', source.url, '+refs/*:refs/*'],
      { cwd: gitDir, config, signal: signal ? AbortSignal.any([signal, timeout]) : timeout },
    ).catch((e: unknown) => {
      report(false);
      throw new MirrorError('MIRROR_FETCH_FAILED', `fetching the mirror was interrupted: ${(e as Error).message}`, source, e);
    });
    report(result.code === 0);
    if (result.code === 0) return;
    const stderr = this.mask(result.stderr);
    this.logger.warn('mirror fetch failed', { upstream: source.upstream, repo: source.repoPath, code: result.code, stderr });
    throw classifyFetchFailure(stderr, source);
  }

  private async maybeRepack(gitDir: string): Promise<void> {
    const packs = (await readdir(join(gitDir, 'objects', 'pack'))).filter((f) => f.endsWith('.pack')).length;
    if (packs <= this.maxPacks) return;
    const started = performance.now();
    // Geometric repacking merges the small recent packs and leaves the big old one alone.
    await gitOk(['repack', '-d', '-q', '--geometric=2', '--write-midx'], { cwd: gitDir });
    this.logger.info('mirror repacked', { gitDir, packs, ms: Math.round(performance.now() - started) });
  }
}

/** Whether `store` has every one of `oids`, yielding to the event loop now and then (a repository may have many refs). */
async function holdsAll(store: ObjectStore, oids: Iterable<Oid>): Promise<boolean> {
  let since = performance.now();
  for (const oid of oids) {
    if (!store.has(oid)) return false;
    if (performance.now() - since > 10) {
      await new Promise(setImmediate);
      since = performance.now();
    }
  }
  return true;
}

function classifyFetchFailure(stderr: string, source: MirrorSource): MirrorError {
  const where = `${source.upstream}/${source.repoPath}`;
  // git 2.39 fetching a SHA-256 repository into the SHA-1 mirror: "mismatched algorithms: client sha1; server sha256".
  if (/mismatched algorithms|unknown object format|object-format/i.test(stderr)) {
    return new MirrorError('MIRROR_UNSUPPORTED_OBJECT_FORMAT', `the upstream repository ${where} does not use SHA-1 object ids; SHA-256 repositories are not supported`, source);
  }
  if (/returned error: (401|403)|Authentication failed/.test(stderr)) {
    return new MirrorError('MIRROR_UPSTREAM_AUTH_REFUSED', `the upstream refused the gateway's credential for ${where}`, source);
  }
  if (/returned error: 404|not found|does not appear to be a git repository/i.test(stderr)) {
    return new MirrorError('MIRROR_REPO_NOT_FOUND', `the upstream has no repository ${where}`, source);
  }
  if (/Failed to connect|Could not resolve|Connection refused|Connection reset|timed out|returned error: 5\d\d|Empty reply/i.test(stderr)) {
    return new MirrorError('MIRROR_UPSTREAM_UNREACHABLE', `the upstream is unreachable for ${where}: ${lastLine(stderr)}`, source);
  }
  return new MirrorError('MIRROR_FETCH_FAILED', `fetching ${where} from the upstream failed: ${lastLine(stderr)}`, source);
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

/** The refs of a git dir (name → id). */
export async function readRefs(gitDir: string): Promise<Map<string, Oid>> {
  const out = await gitOk(['for-each-ref', '--format=%(objectname) %(refname)'], { cwd: gitDir });
  const refs = new Map<string, Oid>();
  for (const line of out.toString('utf8').split('\n')) {
    if (!line) continue;
    const space = line.indexOf(' ');
    const oid = line.slice(0, space);
    if (isOid(oid)) refs.set(line.slice(space + 1), oid);
  }
  return refs;
}
