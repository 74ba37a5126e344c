/**
 * The composition root: builds the gateway from its config — policy (compiled first, so a rule
 * that cannot work stops the start), masker, logger, database and migrations, signing key and
 * authenticator, upstream clients, audit recorder, hold store (its key from the environment or
 * `dataDir`), metrics, HTTP app — and owns the server's lifecycle: at listen the hold relayer, the
 * webhooks and the expiry sweep start; a graceful shutdown stops accepting, ends `-o wait` waits
 * (with their timed-out answer), lets in-flight requests finish (up to a deadline), waits for
 * their audit records, stops the relayer and drains the webhooks, and closes the database.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Writable } from 'node:stream';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Express } from 'express';
import type { Logger } from '@pushgate/core';
import { AuditRecorder, SecretMasker } from '@pushgate/audit';
import { createAuthenticator, loadOrCreateSigningKeys, parseDuration, type Authenticator, type GatewaySigningKeys } from '@pushgate/auth';
import { HoldRelayer, Webhooks, createHoldStore, loadHoldKey, type HoldStore } from '@pushgate/holds';
import { Mirrors } from '@pushgate/mirror';
import { Upstream } from '@pushgate/relay';
import { migrate, openDatabase, type Database } from '@pushgate/store';
import { listeningPublicUrl, type GatewayConfig } from './config';
import { AdvertisedCapabilities } from './advertised';
import { clientAddressResolver } from './client-address';
import { createApp } from './http';
import { createLogger, type ClosableLogger } from './logger';
import { GATEWAY_CHANGESET_OPTIONS } from './inspection';
import { GatewayMetrics } from './metrics';
import { pushPolicy, type PushPolicy } from './policy';

/** How long shutdown waits, once the drain deadline has passed, for cut requests' audit writes. */
const AFTER_DEADLINE_MS = 5_000;

/**
 * How often pending holds past their TTL are marked expired. A hold cannot be approved once its
 * TTL has passed whether or not the sweep has run (the store checks); the sweep makes the state,
 * its audit event and its webhook follow within half a minute.
 */
const EXPIRY_SWEEP_MS = 30_000;

/** Resolves when `p` settles or after `ms`, whichever comes first. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.then(() => undefined, () => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** Things the composition root can be handed instead of building them (tests, the demo). */
export interface GatewayDeps {
  /** Where JSON log lines go; default stdout. Ignored when `logger` is given. */
  readonly logStream?: Writable;
  /** A logger to use instead of building one (it is not closed by the gateway). */
  readonly logger?: Logger;
  /** An open database to use instead of opening one from config (it is not closed by the gateway). */
  readonly database?: Database;
  /** The policy to decide pushes by instead of the config's `policy` (tests inject decisions with it). */
  readonly policy?: PushPolicy;
}

/** Where the gateway listens once started. */
export interface ListeningAddress {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, the base of git remote URLs. */
  readonly url: string;
  /** The base of links the gateway prints: publicUrl, or (listen.port 0 without one) derived from the port it got. */
  readonly publicUrl: string;
}

/** The server's lifecycle. */
type ServerState =
  | { readonly kind: 'created' }
  | { readonly kind: 'listening'; readonly server: http.Server; readonly address: ListeningAddress }
  | { readonly kind: 'draining'; readonly done: Promise<void> }
  | { readonly kind: 'closed' };

/** A gateway built from config, ready to listen. */
export interface Gateway {
  readonly config: GatewayConfig;
  /** The express app (for in-process tests that bring their own server). */
  readonly app: Express;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly database: Database;
  readonly masker: SecretMasker;
  readonly signingKeys: GatewaySigningKeys;
  /** Held pushes (PostgreSQL or the embedded database, packs encrypted). */
  readonly holds: HoldStore;
  /** Starts listening on the configured host and port (port 0 picks a free one). */
  listen(): Promise<ListeningAddress>;
  /** Resolves once no request is in flight, audit records and background mirror fetches included (tests wait on it). */
  idle(): Promise<void>;
  /** Drains and stops: see the module comment. Safe to call more than once. */
  close(): Promise<void>;
}

/** Builds a gateway: opens (and by default migrates) the database and loads keys, but does not listen yet. */
export async function createGateway(config: GatewayConfig, deps: GatewayDeps = {}): Promise<Gateway> {
  const masker = new SecretMasker(config.secretValues);
  const ownLogger: ClosableLogger | undefined = deps.logger === undefined ? createLogger({ level: config.log.level, masker, stream: deps.logStream }) : undefined;
  const logger: Logger = deps.logger ?? (ownLogger as ClosableLogger);
  const closers: (() => Promise<void>)[] = [];
  try {
    // Compiled first: a policy that cannot be used stops the start before anything is opened.
    const policy = deps.policy ?? pushPolicy(config.policy, { logger });
    if (deps.policy === undefined) closers.push(async () => policy.close?.());
    if (masker.weakSecrets() > 0) {
      logger.warn('an upstream credential is shorter than 8 characters; it is masked everywhere it appears, which may also hide unrelated text');
    }
    await mkdir(config.dataDir, { recursive: true });
    const database = deps.database ?? (await openDatabase({ url: config.database.url, dataDir: config.dataDir, logger }));
    if (deps.database === undefined) closers.push(() => database.close());
    if (config.database.autoMigrate) {
      const result = await migrate(database, logger);
      if (result.applied.length > 0) logger.info('database migrated', { version: result.version, applied: result.applied.map((m) => m.name) });
    }

    const signingKeys = await loadOrCreateSigningKeys({ dataDir: config.dataDir, keyFile: config.auth.gateway.signingKeyFile });
    const authenticator: Authenticator = createAuthenticator({
      issuers: config.auth.issuers,
      gateway: { issuer: config.auth.gateway.issuer, audience: config.auth.gateway.audience, keys: signingKeys },
      agentClaim: config.auth.agentClaim,
      clockToleranceSec: config.auth.clockToleranceSec,
    });
    await authenticator.ready();
    if (config.auth.gateway.maxTtl !== undefined) parseDuration(config.auth.gateway.maxTtl, Number.MAX_SAFE_INTEGER);

    const metrics = new GatewayMetrics();
    const mask = (text: string): string => masker.mask(text);
    const upstreams = new Map(config.upstreams.map((u) => [u.name, new Upstream(u, { logger, mask })]));
    closers.push(async () => {
      for (const u of upstreams.values()) u.close();
    });
    // Spooled packs of a previous run are pushes that never finished: nothing refers to them. A
    // held push does not need its spool either: `persist()` hands the pack to the hold store (in
    // the database, encrypted) before the hold exists, so every hold's pack is in the database and
    // the relay of an approved hold reads it from there, on whichever replica claims it.
    const spoolRoot = join(config.dataDir, 'spool');
    await rm(spoolRoot, { recursive: true, force: true });
    await mkdir(spoolRoot, { recursive: true });
    const mirrors = new Mirrors({
      root: join(config.dataDir, 'mirrors'),
      logger,
      mask,
      limits: config.limits,
      onFetch: (fetch) => metrics.mirrorFetches.inc({ reason: fetch.reason, result: fetch.ok ? 'ok' : 'failed' }),
    });
    closers.push(async () => mirrors.close());
    const audit = new AuditRecorder({
      db: database,
      masker,
      logger,
      onWriteFailure: (kind) => metrics.auditWriteFailures.inc({ kind }),
    });

    let state: ServerState = { kind: 'created' };
    const inFlight = new Set<Promise<void>>();
    // Relays are not bound to their clients; this stops them, once shutdown stops waiting.
    const shutdown = new AbortController();

    // Links name the port the gateway got when listen.port is 0 and no publicUrl is set.
    let publicUrl = listeningPublicUrl(config, config.listen.port);
    // Started at listen (the relayer needs the upstreams, webhooks the public URL); a transition
    // before that (none happens without requests) is simply not announced.
    let relayer: HoldRelayer | undefined;
    let webhooks: Webhooks | undefined;
    let expirySweep: NodeJS.Timeout | undefined;
    const holdKey = await loadHoldKey({ dataDir: config.dataDir, key: config.holds.key });
    const holds = createHoldStore({
      db: database,
      key: holdKey,
      ttlMs: config.holds.ttlMs,
      maxHeldPackBytes: config.holds.maxHeldPackBytes,
      logger,
      onTransition: (hold, from) => {
        webhooks?.notifyTransition(hold, from);
        // An approval made here is relayed at once, not at the relayer's next poll.
        relayer?.wake();
      },
    });
    const expire = async (): Promise<void> => {
      try {
        const expired = await holds.expireDue();
        if (expired.length > 0) logger.info('holds expired', { holds: expired.map((h) => h.id) });
      } catch (e) {
        logger.warn('expiring holds failed; retried at the next sweep', { error: e instanceof Error ? e.message : String(e) });
      }
    };
    // Aborted as soon as shutdown starts: a push waiting with `-o wait` then ends with the
    // timed-out answer instead of keeping the drain waiting for a decision.
    const draining = new AbortController();
    const app = createApp({
      logger,
      metrics,
      authenticator,
      upstreams,
      audit,
      database,
      limits: config.limits,
      inspection: { mirrors, limits: config.limits, spoolRoot, logger, changeSetOptions: GATEWAY_CHANGESET_OPTIONS },
      policy,
      holding: { holds, publicUrl: () => publicUrl, maxWaitMs: config.holds.maxWaitMs, keepAliveMs: config.holds.keepAliveMs, shutdown: draining.signal },
      clientAddress: clientAddressResolver(config.listen.trustedProxies),
      advertised: new AdvertisedCapabilities(),
      shutdown: shutdown.signal,
      accepting: () => state.kind === 'listening',
      track: (done) => {
        inFlight.add(done);
        const forget = (): void => void inFlight.delete(done);
        done.then(forget, (e: unknown) => {
          forget();
          logger.error('request handler failed', { error: e instanceof Error ? e.message : String(e) });
        });
      },
    });

    const drain = async (server: http.Server): Promise<void> => {
      const deadline = config.shutdown.drainTimeoutMs;
      logger.info('shutting down: draining in-flight requests', { inFlight: inFlight.size, drainTimeoutMs: deadline });
      draining.abort();
      clearInterval(expirySweep);
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), deadline);
      });
      const drained = (async () => {
        while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
        return 'drained' as const;
      })();
      const how = await Promise.race([drained, timedOut]);
      clearTimeout(timer);
      if (how === 'timeout') {
        logger.warn('shutdown deadline reached: cutting the remaining requests', { inFlight: inFlight.size });
        server.closeAllConnections();
        shutdown.abort();
        // Cut requests finish at once; only their audit writes remain, and a hung database must
        // not keep the process from exiting.
        await within(Promise.allSettled([...inFlight]), AFTER_DEADLINE_MS);
      }
      await within(stopped, AFTER_DEADLINE_MS);
      // Before the database closes: a relay in flight finishes (or is given back), and webhook
      // deliveries still queued are sent or logged as abandoned.
      await relayer?.stop();
      if (webhooks !== undefined) {
        await webhooks.drain(AFTER_DEADLINE_MS);
        await webhooks.close();
      }
      await within(audit.drain(), AFTER_DEADLINE_MS);
      for (const close of closers.reverse()) await close();
      logger.info('stopped');
      await ownLogger?.close();
    };

    return {
      config,
      app,
      logger,
      metrics,
      database,
      masker,
      signingKeys,
      holds,
      async idle() {
        while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
        await audit.drain();
        await mirrors.settled();
      },
      async listen() {
        if (state.kind !== 'created') throw new Error(`the gateway cannot listen: it is ${state.kind}`);
        const server = http.createServer(app);
        // A push or clone may take far longer than Node's default 5-minute request timeout; slow
        // header attacks are still bounded by headersTimeout.
        server.requestTimeout = 0;
        server.on('clientError', (err, socket) => {
          if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nmalformed HTTP request\n');
          logger.debug('malformed HTTP request', { error: err.message });
        });
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(config.listen.port, config.listen.host, () => {
            server.off('error', reject);
            resolve();
          });
        });
        const info = server.address() as AddressInfo;
        const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
        const address = { host: info.address, port: info.port, url: `http://${host}:${info.port}`, publicUrl: listeningPublicUrl(config, info.port) };
        state = { kind: 'listening', server, address };
        publicUrl = address.publicUrl;
        webhooks = new Webhooks({ targets: config.holds.webhooks, publicUrl, db: database, logger });
        relayer = new HoldRelayer({
          store: holds,
          upstreams,
          // Unique per process, and readable in a lease: which machine and process holds a relay.
          owner: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
          leaseMs: config.holds.relay.leaseMs,
          retry: { initialMs: config.holds.relay.retryInitialMs, maxMs: config.holds.relay.retryMaxMs },
          logger,
        });
        relayer.start();
        void expire();
        expirySweep = setInterval(() => void expire(), EXPIRY_SWEEP_MS);
        expirySweep.unref();
        logger.info('listening', { url: address.url, publicUrl: address.publicUrl, upstreams: [...upstreams.keys()], database: database.kind });
        return address;
      },
      async close() {
        switch (state.kind) {
          case 'closed':
            return;
          case 'draining':
            return state.done;
          case 'created': {
            state = { kind: 'closed' };
            for (const close of closers.reverse()) await close();
            await ownLogger?.close();
            return;
          }
          case 'listening': {
            const done = drain(state.server);
            state = { kind: 'draining', done };
            await done;
            state = { kind: 'closed' };
            return;
          }
        }
      },
    };
  } catch (e) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await ownLogger?.close();
    throw e;
  }
}
