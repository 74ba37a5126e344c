/**
 * The approval API's test bed: a real gateway in this process (the harness's: a real upstream,
 * PGlite or PostgreSQL, listening on 127.0.0.1 port 0) with the hold store it built itself, real
 * tokens signed with its key, and holds made the way a held push makes them: the gateway's
 * `store.create` with a small real pack that git packed (or none, for a push that only deletes a
 * ref). And, for what a gateway without a hold store answers, the HTTP app alone without one.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, ZERO_OID, parseOid, silentLogger, type Identity, type Oid, type RefUpdate } from '@pushgate/core';
import { AuditRecorder, SecretMasker } from '@pushgate/audit';
import { createAuthenticator, issueToken, loadOrCreateSigningKeys } from '@pushgate/auth';
import type { HoldRecord, HoldStore } from '@pushgate/holds';
import { Mirrors } from '@pushgate/mirror';
import type { Approvers, Reason } from '@pushgate/policy';
import { migrate, type Database } from '@pushgate/store';
import type { TestDatabase } from '@pushgate/store/testing';
import { AdvertisedCapabilities } from '../advertised';
import { clientAddressResolver } from '../client-address';
import { createApp } from '../http';
import { GatewayMetrics } from '../metrics';
import { pushPolicy } from '../policy';
import { HARNESS_PUBLIC_URL, startHarness } from './harness';
import { upstreamRefs } from './holds';

/** One log line the gateway wrote, parsed. */
export interface LoggedLine {
  readonly level: string;
  readonly message: string;
  readonly [field: string]: unknown;
}

/** Someone with a token. */
export interface TestPerson {
  readonly sub: string;
  readonly email?: string;
  readonly groups: readonly string[];
  readonly agent?: boolean;
}

/** What a test hold is made of. */
export interface TestHoldOptions {
  readonly pusher: TestPerson;
  readonly approvers: readonly Approvers[];
  /** `update` (a real pack with one new commit, the default) or `delete` (no pack). */
  readonly push?: 'update' | 'delete';
  readonly repo?: string;
  readonly pushOptions?: readonly string[];
  /** Default: the store's TTL from now. */
  readonly expiresAt?: Date;
}

/** A running test bed. */
export interface HoldsApiEnv {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The gateway's own hold store. */
  readonly store: HoldStore;
  readonly db: Database;
  readonly metrics: GatewayMetrics;
  /** The gateway's publicUrl, the base of hold links. */
  readonly publicUrl: string;
  /** The gateway's log lines so far, once every request in flight has finished. */
  logs(): Promise<LoggedLine[]>;
  token(person: TestPerson): Promise<string>;
  identity(person: TestPerson): Identity;
  createHold(options: TestHoldOptions): Promise<HoldRecord>;
  /**
   * `git push` as `person` of a new commit adding `path` to the upstream's `app.git` main,
   * through the gateway, whose policy holds anything under `deploy/` for one of `release`.
   */
  gitPush(person: TestPerson, path: string): Promise<{ readonly code: number; readonly stderr: string }>;
  /** Where the upstream's `app.git` has `ref` now. */
  upstreamRef(ref: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

/** The policy of the test bed's gateway. */
export const HOLDS_API_ENV_POLICY = { rules: [{ id: 'protected-deploy', paths: ['deploy/**'], action: 'hold', approvers: { groups: ['release'], count: 1 } }] };

/** Starts a gateway (the harness's) on `backend`. */
export async function startHoldsApiEnv(backend: TestDatabase): Promise<HoldsApiEnv> {
  const h = await startHarness({ db: backend, config: { policy: HOLDS_API_ENV_POLICY } });
  const gateway = h.inProcess;
  if (gateway === undefined) throw new Error('the harness gateway is not in this process');
  const issuer = gateway.config.auth.gateway.issuer;
  const repo = await h.git.initRepo();
  const commit = async (files: Record<string, string>, message: string): Promise<Oid> => {
    const id = parseOid(await h.git.commitFiles(repo, files, message));
    if (id === undefined) throw new Error('git printed no commit id');
    return id;
  };
  let base = await commit({ 'README.md': 'hello\n' }, 'initial');
  let n = 0;
  let upstreamRepo: Promise<string> | undefined;
  const identity = (p: TestPerson): Identity => ({ sub: p.sub, issuer, email: p.email, groups: [...p.groups], agent: p.agent === true });

  return {
    url: h.gateway.url,
    store: gateway.holds,
    db: gateway.database,
    metrics: gateway.metrics,
    publicUrl: HARNESS_PUBLIC_URL,
    identity,
    token: (p) => h.token({ sub: p.sub, email: p.email, groups: p.groups, agent: p.agent }),
    async logs() {
      await gateway.idle();
      return h.gateway.logs.map((line) => JSON.parse(line) as LoggedLine);
    },
    async createHold(o) {
      n += 1;
      let command: RefUpdate;
      let pack: AsyncIterable<Uint8Array> | undefined;
      if (o.push === 'delete') {
        command = { ref: `refs/heads/old-${n}`, oldOid: base, newOid: ZERO_OID };
      } else {
        const next = await commit({ [`change-${n}.txt`]: `change ${n}\n` }, `change ${n}`);
        const packed = await h.git.gitOk(['pack-objects', '--revs', '--stdout', '-q'], { cwd: repo, input: `${next}\n^${base}\n` });
        command = { ref: 'refs/heads/main', oldOid: base, newOid: next };
        base = next;
        const bytes = packed.stdoutBuffer;
        pack = (async function* () {
          yield bytes;
        })();
      }
      const reasons: Reason[] = o.approvers.map((a, i) => ({
        rule: `guard-${i + 1}`,
        mode: 'enforce',
        outcome: 'hold',
        message: `changes ${command.ref}`,
        ref: command.ref,
        approvers: a,
        condition: 'scope',
      }));
      return gateway.holds.create(
        {
          pushId: randomUUID(),
          upstream: 'local',
          repo: o.repo ?? 'team/app.git',
          pusher: identity(o.pusher),
          commands: [command],
          capabilities: ['report-status', 'side-band-64k', 'agent=git/2.39.5'],
          pushOptions: o.pushOptions ?? [],
          summary: { commits: o.push === 'delete' ? 0 : 1, files: o.push === 'delete' ? 0 : 1 },
          decision: { kind: 'hold', reasons, approvers: o.approvers },
          expiresAt: o.expiresAt,
        },
        pack,
      );
    },
    async gitPush(p, path) {
      upstreamRepo ??= h.upstream.createRepo('app.git', { initialCommit: true });
      await upstreamRepo;
      n += 1;
      const work = join(h.git.dir, `push-${n}`);
      await h.git.gitOk(['clone', '-q', h.remote('app.git', await h.token({ sub: p.sub, email: p.email, groups: p.groups, agent: p.agent })), work]);
      await h.git.commitFiles(work, { [path]: `#!/bin/sh\necho ${n}\n` }, `add ${path}`);
      const pushed = await h.git.git(['push', 'origin', 'HEAD:refs/heads/main'], { cwd: work });
      return { code: pushed.code, stderr: pushed.stderr };
    },
    async upstreamRef(ref) {
      return (await upstreamRefs(h.git, h.upstream, 'app.git')).get(ref);
    },
    stop: () => h.stop(),
  };
}

/** The HTTP app alone, with no hold store (as a gateway that keeps no holds), over `backend`. */
export async function startAppWithoutHolds(backend: TestDatabase): Promise<{ readonly url: string; token(person: TestPerson): Promise<string>; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-holds-api-'));
  const db = await backend.open();
  await migrate(db);
  const keys = await loadOrCreateSigningKeys({ dataDir: dir });
  const authenticator = createAuthenticator({ issuers: [], gateway: { issuer: HARNESS_PUBLIC_URL, audience: 'pushgate', keys }, agentClaim: 'agent' });
  await authenticator.ready();
  const mirrors = new Mirrors({ root: join(dir, 'mirrors'), limits: DEFAULT_LIMITS });
  const inFlight = new Set<Promise<void>>();
  const app = createApp({
    logger: silentLogger,
    metrics: new GatewayMetrics(),
    authenticator,
    upstreams: new Map(),
    audit: new AuditRecorder({ db, masker: new SecretMasker(), logger: silentLogger }),
    database: db,
    limits: DEFAULT_LIMITS,
    inspection: { mirrors, limits: DEFAULT_LIMITS, spoolRoot: join(dir, 'spool'), logger: silentLogger },
    policy: pushPolicy(undefined),
    accepting: () => true,
    track: (done) => {
      inFlight.add(done);
      void done.finally(() => inFlight.delete(done));
    },
    clientAddress: clientAddressResolver([]),
    advertised: new AdvertisedCapabilities(),
    shutdown: new AbortController().signal,
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: (p) => issueToken(keys, { issuer: HARNESS_PUBLIC_URL, audience: 'pushgate', sub: p.sub, email: p.email, groups: p.groups, agent: p.agent, agentClaim: 'agent', ttl: '1h' }),
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await Promise.allSettled([...inFlight]);
      await mirrors.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
