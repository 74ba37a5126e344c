/**
 * The end-to-end harness of the gateway's tests: a real upstream (`git http-backend`) that requires
 * a random credential only the gateway is given, a gateway in front of it (in-process or a child
 * process) on the embedded database or a PostgreSQL test database, an isolated git client, and
 * helpers to mint tokens and read the audit record.
 */
import { randomBytes } from 'node:crypto';
import { defaultSigningKeyFile, issueToken, loadOrCreateSigningKeys } from '@pushgate/auth';
import { listAuditEvents, openDatabase, type AuditEventRecord, type Database } from '@pushgate/store';
import type { TestDatabase } from '@pushgate/store/testing';
import {
  createGitEnv,
  startGateway,
  startGitUpstream,
  type FaultAnswer,
  type FaultRequest,
  type GatewayMode,
  type GitEnv,
  type GitUpstream,
  type StartedGateway,
} from '@pushgate/testkit';
import type { Gateway } from '../gateway';

/** The gateway's publicUrl in the harness, hence the issuer of its tokens. */
export const HARNESS_PUBLIC_URL = 'http://pushgate.test';

/** Options of startHarness. */
export interface HarnessOptions {
  readonly mode?: GatewayMode;
  /** The database backend; the gateway's embedded PGlite when omitted. */
  readonly db?: TestDatabase;
  readonly fault?: (req: FaultRequest) => FaultAnswer;
  /** Extra config keys merged over the harness's. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** More upstreams after the harness's own `local`. */
  readonly moreUpstreams?: readonly Readonly<Record<string, unknown>>[];
  /** More environment for the gateway (passwords of moreUpstreams). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Where the gateway's config and data live; kept after stop() (the caller removes it), so a
   * gateway can be started again on the same data. A fresh temporary directory when omitted.
   */
  readonly dir?: string;
}

/** Options of `Harness.startGateway`. */
export interface MoreGatewayOptions {
  /** Child by default: a second process, as a replica or a restart is. */
  readonly mode?: GatewayMode;
  /** The directory of a gateway started before (a restart on its data), or a fresh one when omitted. */
  readonly dir?: string;
}

/** Claims of a gateway token minted by the harness. */
export interface HarnessTokenClaims {
  readonly sub?: string;
  readonly email?: string;
  readonly groups?: readonly string[];
  readonly agent?: boolean;
  readonly ttl?: string;
}

/** A running upstream + gateway + git client. */
export interface Harness {
  readonly upstream: GitUpstream;
  readonly gateway: StartedGateway;
  readonly git: GitEnv;
  /** The upstream password only the gateway knows. */
  readonly secret: string;
  /** Mints a gateway token (default subject `alice`). */
  token(claims?: HarnessTokenClaims): Promise<string>;
  /** The gateway URL of an upstream repository, with `token` as the Basic password. */
  remote(repo: string, token?: string): string;
  /** Every audit event written so far, oldest first (after the requests in flight have finished). */
  auditRows(): Promise<AuditEventRecord[]>;
  /** The in-process Gateway (undefined in child mode). */
  readonly inProcess: Gateway | undefined;
  /**
   * Starts another gateway with the harness's config, upstream, database and environment, whose
   * tokens are the harness's (it reads the same signing key): a replica over the same PostgreSQL,
   * or, given the `dir` of one that was killed, that gateway restarted on its data. stop() stops
   * it too.
   */
  startGateway(options?: MoreGatewayOptions): Promise<StartedGateway>;
  stop(): Promise<void>;
}

/** Starts an upstream and a gateway in front of it. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const secret = `upstream-${randomBytes(16).toString('hex')}`;
  const upstream = await startGitUpstream({ auth: { username: 'x-access-token', password: secret }, fault: options.fault });
  const git = await createGitEnv();
  let databaseUrl: string | undefined;
  if (options.db?.name === 'postgres') {
    // Creates this file's database; the gateway then connects to it by URL like any deployment.
    databaseUrl = (await options.db.options()).url;
    await (await options.db.open()).close();
  }
  const config: Record<string, unknown> = {
    upstreams: [{ name: 'local', url: upstream.url, username: 'x-access-token', passwordEnv: 'LOCAL_UPSTREAM_TOKEN' }, ...(options.moreUpstreams ?? [])],
    ...(databaseUrl === undefined ? {} : { database: { url: databaseUrl } }),
    // Fixed, so tokens can be minted for a child gateway without asking it.
    publicUrl: HARNESS_PUBLIC_URL,
    shutdown: { drainTimeoutMs: 10_000 },
    ...options.config,
  };
  const env = { ...options.env, LOCAL_UPSTREAM_TOKEN: secret };
  let gateway: StartedGateway;
  try {
    gateway = await startGateway({ mode: options.mode ?? 'in-process', config, env, dir: options.dir });
  } catch (e) {
    await upstream.close();
    await git.cleanup();
    throw e;
  }
  const inProcess = gateway.gateway as Gateway | undefined;
  const others: StartedGateway[] = [];

  const keysAndIssuer = async () => {
    if (inProcess !== undefined) return { keys: inProcess.signingKeys, issuer: inProcess.config.auth.gateway.issuer };
    return { keys: await loadOrCreateSigningKeys({ dataDir: gateway.dataDir }), issuer: HARNESS_PUBLIC_URL };
  };

  return {
    upstream,
    gateway,
    git,
    secret,
    inProcess,
    async token(claims = {}) {
      const { keys, issuer } = await keysAndIssuer();
      return issueToken(keys, {
        issuer,
        audience: 'pushgate',
        sub: claims.sub ?? 'alice',
        email: claims.email,
        groups: claims.groups,
        agent: claims.agent,
        agentClaim: 'agent',
        ttl: claims.ttl ?? '1h',
      });
    },
    remote(repo, token) {
      const base = new URL(`${gateway.url}/local/${repo}`);
      if (token !== undefined) {
        base.username = 'x-token';
        base.password = token;
      }
      return base.toString();
    },
    async auditRows() {
      let db: Database;
      let close = false;
      if (inProcess !== undefined) {
        await inProcess.idle();
        db = inProcess.database;
      }
      else {
        // The embedded database allows one process at a time: it belongs to the running child.
        if (databaseUrl === undefined) throw new Error('auditRows() of a child gateway needs the PostgreSQL backend');
        db = await openDatabase({ url: databaseUrl, dataDir: gateway.dataDir });
        close = true;
      }
      try {
        const rows: AuditEventRecord[] = [];
        for (;;) {
          const page = await listAuditEvents(db, { limit: 1000, afterId: rows.at(-1)?.id });
          rows.push(...page);
          if (page.length < 1000) return rows;
        }
      } finally {
        if (close) await db.close();
      }
    },
    async startGateway(extra = {}) {
      // The first gateway's key (generated in its data directory unless the config names a file).
      const auth = (config.auth ?? {}) as { gateway?: { signingKeyFile?: string } };
      const keyFile = inProcess?.signingKeys.file ?? auth.gateway?.signingKeyFile ?? defaultSigningKeyFile(gateway.dataDir);
      const started = await startGateway({
        mode: extra.mode ?? 'child',
        config: { ...config, auth: { ...auth, gateway: { ...auth.gateway, signingKeyFile: keyFile } } },
        env,
        dir: extra.dir,
      });
      others.push(started);
      return started;
    },
    async stop() {
      for (const g of others.splice(0)) await g.stop();
      await gateway.stop();
      await upstream.close();
      await git.cleanup();
    },
  };
}
