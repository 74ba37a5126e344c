/**
 * The approval API's test bed: the gateway's HTTP app listening on 127.0.0.1 port 0 with a real
 * hold store over a test database (PGlite or PostgreSQL), real tokens signed with the gateway's
 * key, and holds made the way a held push makes them: `store.create` with a small real pack that
 * git packed (or none, for a push that only deletes a ref).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, ZERO_OID, parseOid, type Identity, type LogFields, type Logger, type Oid, type RefUpdate } from '@pushgate/core';
import { AuditRecorder, SecretMasker } from '@pushgate/audit';
import { createAuthenticator, issueToken, loadOrCreateSigningKeys, type GatewaySigningKeys } from '@pushgate/auth';
import { createHoldStore, loadHoldKey, type HoldRecord, type HoldStore } from '@pushgate/holds';
import { Mirrors } from '@pushgate/mirror';
import type { Approvers, Reason } from '@pushgate/policy';
import { migrate, type Database } from '@pushgate/store';
import type { TestDatabase } from '@pushgate/store/testing';
import { createGitEnv, type GitEnv } from '@pushgate/testkit';
import { AdvertisedCapabilities } from '../advertised';
import { clientAddressResolver } from '../client-address';
import { createApp } from '../http';
import { GatewayMetrics } from '../metrics';
import { pushPolicy } from '../policy';

/** The issuer of the test bed's tokens (the gateway's own). */
export const TEST_ISSUER = 'http://pushgate.test';

/** One log line the app wrote. */
export interface LoggedLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: LogFields;
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
  readonly store: HoldStore;
  readonly db: Database;
  readonly metrics: GatewayMetrics;
  readonly logs: readonly LoggedLine[];
  /** The gateway's publicUrl, the base of hold links. */
  readonly publicUrl: string;
  token(person: TestPerson): Promise<string>;
  identity(person: TestPerson): Identity;
  createHold(options: TestHoldOptions): Promise<HoldRecord>;
  stop(): Promise<void>;
}

function collectingLogger(lines: LoggedLine[], bound: LogFields = {}): Logger {
  const at = (level: LoggedLine['level']) => (message: string, fields: LogFields = {}) => void lines.push({ level, message, fields: { ...bound, ...fields } });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (fields) => collectingLogger(lines, { ...bound, ...fields }) };
}

/** Starts the app over `backend` (migrated), with a hold store unless `holds` is false. */
export async function startHoldsApiEnv(backend: TestDatabase, options: { readonly holds?: boolean } = {}): Promise<HoldsApiEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-holds-api-'));
  const git: GitEnv = await createGitEnv();
  const db = await backend.open();
  await migrate(db);
  const logs: LoggedLine[] = [];
  const logger = collectingLogger(logs);
  const keys: GatewaySigningKeys = await loadOrCreateSigningKeys({ dataDir: dir });
  const authenticator = createAuthenticator({ issuers: [], gateway: { issuer: TEST_ISSUER, audience: 'pushgate', keys }, agentClaim: 'agent' });
  await authenticator.ready();
  const store = createHoldStore({ db, key: await loadHoldKey({ dataDir: dir }), logger });
  const metrics = new GatewayMetrics();
  const mirrors = new Mirrors({ root: join(dir, 'mirrors'), logger, limits: DEFAULT_LIMITS });
  const inFlight = new Set<Promise<void>>();
  const publicUrl = 'http://pushgate.test';
  const app = createApp({
    logger,
    metrics,
    authenticator,
    upstreams: new Map(),
    audit: new AuditRecorder({ db, masker: new SecretMasker(), logger }),
    database: db,
    limits: DEFAULT_LIMITS,
    inspection: { mirrors, limits: DEFAULT_LIMITS, spoolRoot: join(dir, 'spool'), logger },
    policy: pushPolicy(undefined),
    accepting: () => true,
    track: (done) => {
      inFlight.add(done);
      void done.finally(() => inFlight.delete(done));
    },
    clientAddress: clientAddressResolver([]),
    advertised: new AdvertisedCapabilities(),
    shutdown: new AbortController().signal,
    holds: options.holds === false ? undefined : store,
    publicUrl: () => publicUrl,
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const repo = await git.initRepo();
  const commit = async (files: Record<string, string>, message: string): Promise<Oid> => {
    const id = parseOid(await git.commitFiles(repo, files, message));
    if (id === undefined) throw new Error('git printed no commit id');
    return id;
  };
  let base = await commit({ 'README.md': 'hello\n' }, 'initial');
  let n = 0;

  const identity = (p: TestPerson): Identity => ({ sub: p.sub, issuer: TEST_ISSUER, email: p.email, groups: [...p.groups], agent: p.agent === true });

  return {
    url,
    store,
    db,
    metrics,
    logs,
    publicUrl,
    identity,
    token: (p) => issueToken(keys, { issuer: TEST_ISSUER, audience: 'pushgate', sub: p.sub, email: p.email, groups: p.groups, agent: p.agent, agentClaim: 'agent', ttl: '1h' }),
    async createHold(o) {
      n += 1;
      let command: RefUpdate;
      let pack: AsyncIterable<Uint8Array> | undefined;
      if (o.push === 'delete') {
        command = { ref: `refs/heads/old-${n}`, oldOid: base, newOid: ZERO_OID };
      } else {
        const next = await commit({ [`change-${n}.txt`]: `change ${n}\n` }, `change ${n}`);
        const packed = await git.gitOk(['pack-objects', '--revs', '--stdout', '-q'], { cwd: repo, input: `${next}\n^${base}\n` });
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
      return store.create(
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
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await Promise.allSettled([...inFlight]);
      await mirrors.close();
      await git.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
