/**
 * Sends approved holds upstream, each exactly once, whichever replica claims it and whatever
 * crashed before.
 *
 * A relay is claimed by a committed state change (`approved → relaying` with an owner and a
 * lease), never by a row lock held while it runs: the store's statement and idle timeouts would
 * end a lock long before a large push is sent. The lease is renewed while the relay runs; a
 * replica that dies leaves a lease that expires, and the next owner starts as every relay starts —
 * by reading the upstream's refs:
 *
 *   every ref at the push's new id  → an earlier relay landed: `relayed`, nothing sent
 *   a ref at neither old nor new id → somebody else moved it: `stale`, nothing sent or overwritten
 *   otherwise                       → send the commands still at their old ids
 *
 * The commands carry the old ids, so the upstream's own compare-and-swap refuses a duplicate that
 * slipped through. The outcome is classified by reading the refs again, never from the answer's
 * text: at the new id → `relayed`; moved → `stale`; still at the old id after an answer
 * (`ng`, unpack error, fatal) → `upstream-rejected`; still at the old id with no answer, or refs
 * unreadable → given back (`relaying → approved`) and retried later with backoff.
 */
import { silentLogger, type Logger, type RefUpdate } from '@pushgate/core';
import { compareRefs, readReceivePackAdvertisement, relayPush, type ReceivePackAdvertisement, type RelayResult, type Upstream } from '@pushgate/relay';
import { backoffMs } from './backoff';
import { relayedPushOptions } from './push-options';
import type { ClaimedRelay, HoldStore, RelayFinish, RelayReport } from './types';

/** Options of `HoldRelayer`. */
export interface HoldRelayerOptions {
  readonly store: HoldStore;
  /** The configured upstreams by name (a hold names its upstream). */
  readonly upstreams: ReadonlyMap<string, Upstream>;
  /** This replica's name in leases (unique per process: host and pid, or a uuid). */
  readonly owner: string;
  /** How long a claim lasts without renewal (default 30 s); renewed every third of it. */
  readonly leaseMs?: number;
  /** How often to look for work when nobody calls `wake()` (default 2 s). */
  readonly pollMs?: number;
  /** Backoff between attempts of a relay the upstream did not answer (default 1 s … 5 min). */
  readonly retry?: { readonly initialMs: number; readonly maxMs: number };
  /** How long `stop()` lets a relay in flight finish before abandoning it (default 30 s). */
  readonly stopTimeoutMs?: number;
  readonly logger?: Logger;
}

/**
 * 30 s: far above a renewal round trip (every 10 s), short enough that a crashed replica's relay
 * is taken over within half a minute.
 */
export const DEFAULT_RELAY_LEASE_MS = 30_000;
/** 2 s: an approval is relayed at once through `wake()`; polling is the safety net (and PGlite's other replicas). */
export const DEFAULT_RELAY_POLL_MS = 2_000;
/** From 1 s (a blip) up to 5 min (an upstream down for maintenance), doubling. */
export const DEFAULT_RELAY_RETRY = Object.freeze({ initialMs: 1_000, maxMs: 300_000 });
/** What a shutdown waits for a relay in flight, within a container's usual 30–60 s grace period. */
export const DEFAULT_RELAY_STOP_TIMEOUT_MS = 30_000;
/** Characters of an error kept on the hold and in logs. */
const ERROR_CHARS = 500;

/** How one claimed relay ended. */
type RelayStep =
  | { readonly kind: 'finished'; readonly finish: RelayFinish; readonly sent: boolean; readonly recorded: boolean }
  | { readonly kind: 'retry'; readonly error: string; readonly delayMs: number; readonly recorded: boolean };

function describe(e: unknown): string {
  const text = typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string' ? (e as Error).message : String(e);
  return text.slice(0, ERROR_CHARS);
}

/** The report of a relay found already landed: synthesised, and saying so. */
function landedReport(commands: readonly RefUpdate[]): RelayReport {
  return {
    unpack: 'ok',
    refs: commands.map((c) => ({ ref: c.ref, status: 'ok' as const })),
    messages: ['pushgate: the upstream already had every ref at the pushed id (an earlier relay of this push landed); nothing was sent again'],
  };
}

/**
 * The hold's report from the upstream's answer about the commands sent: every command of the
 * push in order, those not sent (found landed before) as `ok`.
 */
function mergedReport(commands: readonly RefUpdate[], result: Extract<RelayResult, { kind: 'report' }>, sent: readonly RefUpdate[]): RelayReport {
  const byRef = new Map(result.refs.map((r) => [r.ref, r]));
  const sentRefs = new Set(sent.map((c) => c.ref));
  const messages = [...result.messages];
  if (sent.length < commands.length) messages.push('pushgate: some refs were already at the pushed id (an earlier relay landed them); only the others were sent');
  return {
    unpack: result.unpack,
    refs: commands.map((c) => byRef.get(c.ref) ?? (sentRefs.has(c.ref) ? { ref: c.ref, status: 'ng' as const, reason: 'no status from the upstream' } : { ref: c.ref, status: 'ok' as const })),
    messages,
  };
}

/** The upstream's refusal in one line, from its answer. */
function refusalMessage(result: Exclude<RelayResult, { kind: 'failed' }>, notApplied: readonly RefUpdate[]): string {
  if (result.kind === 'fatal') return result.message;
  const parts: string[] = [];
  if (result.unpack !== 'ok') parts.push(`unpack failed: ${result.unpack}`);
  for (const r of result.refs) if (r.status === 'ng') parts.push(`${r.ref}: ${r.reason}`);
  if (parts.length === 0) parts.push(`the upstream answered without applying ${notApplied.map((c) => c.ref).join(', ')}`);
  return parts.join('; ');
}

function reportOf(result: Extract<RelayResult, { kind: 'report' }>): RelayReport {
  return { unpack: result.unpack, refs: result.refs, messages: result.messages };
}

/** The relay loop of one replica (see the module comment). */
export class HoldRelayer {
  private readonly store: HoldStore;
  private readonly upstreams: ReadonlyMap<string, Upstream>;
  private readonly owner: string;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly retry: { readonly initialMs: number; readonly maxMs: number };
  private readonly stopTimeoutMs: number;
  private readonly logger: Logger;
  /** Aborts the upstream requests of a relay that outlived `stop()`'s bound. */
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private stopping = false;
  /** The relay running now (from the loop or `runOnce`). */
  private current: Promise<boolean> | undefined;
  /** Ends the loop's sleep early; `woken` remembers a wake that came while it was busy. */
  private wakeSleeper: (() => void) | undefined;
  private woken = false;

  constructor(options: HoldRelayerOptions) {
    this.store = options.store;
    this.upstreams = options.upstreams;
    this.owner = options.owner;
    this.leaseMs = options.leaseMs ?? DEFAULT_RELAY_LEASE_MS;
    this.pollMs = options.pollMs ?? DEFAULT_RELAY_POLL_MS;
    this.retry = options.retry ?? DEFAULT_RELAY_RETRY;
    this.stopTimeoutMs = options.stopTimeoutMs ?? DEFAULT_RELAY_STOP_TIMEOUT_MS;
    this.logger = (options.logger ?? silentLogger).child({ component: 'relayer', owner: options.owner });
  }

  /** Starts the loop: claim and relay while there is work, then sleep `pollMs` or until `wake()`. */
  start(): void {
    if (this.loop !== undefined || this.stopping) return;
    this.loop = this.run();
  }

  /** Looks for work now (an approval was just recorded, here or on another replica). */
  wake(): void {
    this.woken = true;
    this.wakeSleeper?.();
  }

  /**
   * Stops claiming, then waits for the relay in flight up to `stopTimeoutMs`; past that its
   * upstream requests are abandoned and it is given back (or, if even that fails, left to its
   * lease, which the next owner takes over after reading the upstream's refs).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    const current = this.current;
    if (current !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        current.then(
          () => false,
          () => false,
        ),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), this.stopTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.logger.warn('relay still running at shutdown: abandoning it', { stopTimeoutMs: this.stopTimeoutMs });
        this.abort.abort();
        await current.catch(() => undefined);
      }
    }
    await this.loop;
  }

  /** Claims and relays at most one hold; true when one was claimed. Throws only when the claim itself fails. */
  async runOnce(): Promise<boolean> {
    if (this.stopping) return false;
    const run = (async () => {
      const claim = await this.store.claimRelay(this.owner, this.leaseMs);
      if (claim === undefined) return false;
      await this.relay(claim);
      return true;
    })();
    this.current = run;
    try {
      return await run;
    } finally {
      if (this.current === run) this.current = undefined;
    }
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let worked = false;
      try {
        worked = await this.runOnce();
      } catch (e) {
        // The store is unreachable: nothing was claimed; try again after the poll interval.
        this.logger.error('claiming a relay failed', { error: describe(e) });
      }
      if (worked || this.stopping) continue;
      await this.sleep();
    }
  }

  private sleep(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeSleeper = undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, this.pollMs);
      this.wakeSleeper = done;
    });
  }

  /** Runs one claimed relay to a recorded end; never throws (a failure gives the relay back). */
  private async relay(claim: ClaimedRelay): Promise<RelayStep> {
    const hold = claim.hold;
    const log = this.logger.child({ holdId: hold.id, pushId: hold.pushId, upstream: hold.upstream, repo: hold.repo });
    log.info('relay claimed', { attempts: hold.state.attempts, reclaimed: claim.reclaimed, leaseUntil: hold.state.leaseUntil.toISOString() });
    const lease = this.keepLease(hold.id, log);
    try {
      return await this.relayClaimed(claim, log);
    } catch (e) {
      // A bug or the store failing mid-way: give the relay back rather than leave it to its lease.
      log.error('relay failed unexpectedly', { error: describe(e) });
      return await this.giveBack(claim, log, `internal error: ${describe(e)}`);
    } finally {
      lease.stop();
    }
  }

  private async relayClaimed(claim: ClaimedRelay, log: Logger): Promise<RelayStep> {
    const hold = claim.hold;
    const signal = this.abort.signal;
    const upstream = this.upstreams.get(hold.upstream);
    if (upstream === undefined) {
      // Config changed since the push was held; keep it (an operator may restore the upstream).
      return this.giveBack(claim, log, `upstream "${hold.upstream}" is not configured`);
    }

    // (a) Where the upstream's refs are now: after a crash or an expired lease this is what says
    // whether the push already landed.
    let before: ReceivePackAdvertisement;
    try {
      before = await readReceivePackAdvertisement(upstream, hold.repo, signal);
    } catch (e) {
      return this.giveBack(claim, log, `reading the upstream's refs failed: ${describe(e)}`);
    }

    // (b) Nothing to send when it landed, or when somebody else moved a ref.
    const found = compareRefs(hold.commands, before.refs);
    log.info('upstream refs read before relaying', { landed: found.landed.length, notApplied: found.notApplied.length, moved: found.moved.length });
    if (found.moved.length > 0) return this.finish(claim, log, { kind: 'stale', moved: found.moved }, false);
    if (found.notApplied.length === 0) return this.finish(claim, log, { kind: 'relayed', report: landedReport(hold.commands) }, false);

    // (c) Send the commands still at their old ids; the old ids make the upstream refuse the
    // update if anything moved meanwhile.
    const toSend = found.notApplied;
    let packError: string | undefined;
    const store = this.store;
    const pack =
      hold.pack === undefined
        ? undefined
        : {
            bytes: hold.pack.bytes,
            open: () =>
              (async function* () {
                try {
                  yield* store.readPack(hold);
                } catch (e) {
                  packError = describe(e);
                  throw e;
                }
              })(),
          };
    log.info('relaying', { commands: toSend.length, packBytes: hold.pack?.bytes ?? 0 });
    const result = await relayPush({
      upstream,
      repoPath: hold.repo,
      commands: toSend,
      atomic: hold.capabilities.includes('atomic'),
      pushOptions: relayedPushOptions(hold.pushOptions),
      pack,
      advertised: before,
      requestId: hold.pushId,
      signal,
    });
    log.info('upstream answered', result.kind === 'failed' ? { result: 'failed', error: describe(result.error), sent: result.sent } : { result: result.kind });

    // (d) Classify by where the refs are now, not by what the answer said.
    let after: ReceivePackAdvertisement;
    try {
      after = await readReceivePackAdvertisement(upstream, hold.repo, signal);
    } catch (e) {
      return this.giveBack(claim, log, `the relay's outcome is unknown: reading the upstream's refs after it failed: ${describe(e)}`);
    }
    const now = compareRefs(hold.commands, after.refs);
    log.info('upstream refs read after relaying', { landed: now.landed.length, notApplied: now.notApplied.length, moved: now.moved.length });
    if (now.moved.length > 0) return this.finish(claim, log, { kind: 'stale', moved: now.moved }, true);
    if (now.notApplied.length === 0) {
      const report = result.kind === 'report' ? mergedReport(hold.commands, result, toSend) : landedReport(hold.commands);
      return this.finish(claim, log, { kind: 'relayed', report }, true);
    }
    if (result.kind === 'failed' && result.error.code === 'UPSTREAM_PUSH_UNSENDABLE') {
      // Nothing was sent, and sending it again would meet the same advertisement: the upstream
      // cannot take this push as it is (no atomic, no delete-refs …). The pusher must push again.
      return this.finish(claim, log, { kind: 'upstream-rejected', message: `the upstream cannot take this push as it is: ${describe(result.error)}` }, false);
    }
    if (result.kind === 'failed') {
      const why = packError !== undefined ? `reading the stored pack failed: ${packError}` : describe(result.error);
      return this.giveBack(claim, log, `the upstream did not answer: ${why}`);
    }
    const message = refusalMessage(result, now.notApplied);
    return this.finish(claim, log, result.kind === 'report' ? { kind: 'upstream-rejected', message, report: reportOf(result) } : { kind: 'upstream-rejected', message }, true);
  }

  private async finish(claim: ClaimedRelay, log: Logger, finish: RelayFinish, sent: boolean): Promise<RelayStep> {
    const recorded = await this.store.finishRelay(claim.hold.id, this.owner, finish);
    const fields = { result: finish.kind, sent, recorded, ...(finish.kind === 'upstream-rejected' ? { message: finish.message } : {}), ...(finish.kind === 'stale' ? { moved: finish.moved.map((m) => m.ref) } : {}) };
    if (recorded) log.info('relay finished', fields);
    // Another owner took the relay over (this one's lease lapsed); it classifies on its own.
    else log.warn('relay finished but no longer ours: not recorded', fields);
    return { kind: 'finished', finish, sent, recorded };
  }

  private async giveBack(claim: ClaimedRelay, log: Logger, error: string): Promise<RelayStep> {
    const delayMs = backoffMs(this.retry, Math.max(1, claim.hold.state.attempts));
    const text = error.slice(0, ERROR_CHARS);
    let recorded = false;
    try {
      recorded = await this.store.retryLater(claim.hold.id, this.owner, text, delayMs);
    } catch (e) {
      log.error('giving the relay back failed: it is retried when its lease expires', { error: describe(e) });
    }
    log.warn('relay to be retried', { error: text, delayMs, attempts: claim.hold.state.attempts, recorded });
    return { kind: 'retry', error: text, delayMs, recorded };
  }

  /** Renews the lease every third of it until stopped; a lost lease is logged (the old ids still protect the upstream). */
  private keepLease(holdId: string, log: Logger): { stop(): void } {
    let renewing = false;
    const timer = setInterval(() => {
      if (renewing) return;
      renewing = true;
      this.store
        .renewLease(holdId, this.owner, this.leaseMs)
        .then((ok) => {
          if (!ok) log.warn('relay lease lost to another owner');
        })
        .catch((e: unknown) => log.warn('renewing the relay lease failed', { error: describe(e) }))
        .finally(() => {
          renewing = false;
        });
    }, Math.max(1, Math.floor(this.leaseMs / 3)));
    return { stop: () => clearInterval(timer) };
  }
}
