/**
 * The gateway's YAML configuration (every key is documented in docs/CONFIG.md). Parsing keeps the
 * YAML document so that every error names the key path and the line it is on; unknown keys are
 * errors (a typo must not silently disable a setting). Secrets are never in the file itself: the
 * file names the environment variable or file holding them, read when the config is resolved.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { DEFAULT_LIMITS, PushgateError, type Limits } from '@pushgate/core';
import type { IssuerConfig } from '@pushgate/auth';
import { HOLD_EVENTS, type HoldEvent } from '@pushgate/holds';
import { PolicyConfigSchema, type PolicyConfig } from '@pushgate/policy';
import type { UpstreamEndpoint } from '@pushgate/relay';
import { isAddressOrCidr } from './client-address';

/** Codes of ConfigError (listed in docs/ERRORS.md). */
export type ConfigErrorCode = 'CONFIG_UNREADABLE' | 'CONFIG_INVALID' | 'CONFIG_SECRET_MISSING' | 'CONFIG_SECRET_UNREADABLE';

/** One problem in a config file, located. */
export interface ConfigIssue {
  /** Key path such as `upstreams[0].passwordEnv` (empty for the document itself). */
  readonly path: string;
  /** 1-based line and column of the offending node (or of its nearest existing parent). */
  readonly line?: number;
  readonly column?: number;
  /** The id of the policy rule the key belongs to (under `policy.rules`, when the rule has one). */
  readonly rule?: string;
  readonly message: string;
}

/** The config cannot be used; `data.issues` lists every problem found. */
export class ConfigError extends PushgateError<ConfigErrorCode, { source: string; issues: ConfigIssue[] }> {
  constructor(code: ConfigErrorCode, source: string, issues: ConfigIssue[]) {
    super(code, issues.map((i) => formatIssue(source, i)).join('\n'), { data: { source, issues }, delivery: { kind: 'http', status: 500 } });
  }
}

/** `file:line:col: path: message`, the form editors and CI logs link to. */
export function formatIssue(source: string, issue: ConfigIssue): string {
  const where = issue.line === undefined ? source : `${source}:${issue.line}:${issue.column ?? 1}`;
  const message = issue.rule === undefined ? issue.message : `rule ${JSON.stringify(issue.rule)}: ${issue.message}`;
  return issue.path ? `${where}: ${issue.path}: ${message}` : `${where}: ${message}`;
}

// Upstream names are the first path segment of every gateway URL; the reserved ones are the
// gateway's own endpoints.
const UPSTREAM_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const RESERVED_NAMES = new Set(['healthz', 'readyz', 'metrics', 'api', 'review', 'static']);
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

const httpUrl = (what: string) =>
  z.string().refine(
    (s) => {
      try {
        const u = new URL(s);
        return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password && !u.search && !u.hash;
      } catch {
        return false;
      }
    },
    { message: `${what} must be an http(s) URL without credentials, query or fragment` },
  );

const envName = z.string().regex(ENV_NAME_RE, { message: 'must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)' });

// Durations as operators type them everywhere in this file (like auth.gateway.maxTtl): `45s`, `30m`, `1h`, `7d`.
const DURATION_RE = /^([1-9][0-9]{0,8})(s|m|h|d)$/;
const DURATION_UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const duration = z.string().regex(DURATION_RE, { message: 'must be a duration: a positive whole number followed by s, m, h or d (e.g. 45s, 30m, 1h, 7d)' });

/** Milliseconds of a duration the schema accepted (`45s`, `30m`, `1h`, `7d`). */
export function durationMs(text: string): number {
  const m = DURATION_RE.exec(text);
  if (m === null) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  return Number(m[1]) * DURATION_UNIT_MS[m[2] as keyof typeof DURATION_UNIT_MS];
}

/** The defaults of `holds` (docs/CONFIG.md). */
export const HOLD_DEFAULTS = Object.freeze({
  ttl: '72h',
  keyEnv: 'PUSHGATE_HOLD_KEY',
  // A held pack lives in the database (encrypted, in chunks): 1 GiB keeps one hold well within
  // what an operator expects a row's worth of data to cost, and is half the default maxPackBytes.
  maxHeldPackBytes: 1024 * 1024 * 1024,
  maxWait: '1h',
  keepAlive: '5s',
  relay: { lease: '30s', retryInitial: '1s', retryMax: '5m' },
});

const webhookSchema = z.strictObject({
  url: httpUrl('url'),
  /** Absent: every event. */
  events: z.array(z.enum(HOLD_EVENTS as readonly HoldEvent[] as [HoldEvent, ...HoldEvent[]])).min(1).optional(),
  secretEnv: envName.optional(),
  format: z.enum(['json', 'slack']).default('json'),
});

const holdsSchema = z.strictObject({
  ttl: duration.default(HOLD_DEFAULTS.ttl),
  keyEnv: envName.default(HOLD_DEFAULTS.keyEnv),
  maxHeldPackBytes: z.number().int().positive().default(HOLD_DEFAULTS.maxHeldPackBytes),
  maxWait: duration.default(HOLD_DEFAULTS.maxWait),
  keepAlive: duration.default(HOLD_DEFAULTS.keepAlive),
  relay: z
    .strictObject({
      lease: duration.default(HOLD_DEFAULTS.relay.lease),
      retryInitial: duration.default(HOLD_DEFAULTS.relay.retryInitial),
      retryMax: duration.default(HOLD_DEFAULTS.relay.retryMax),
    })
    .default({ ...HOLD_DEFAULTS.relay }),
  webhooks: z.array(webhookSchema).default([]),
});

const upstreamSchema = z
  .strictObject({
    name: z
      .string()
      .regex(UPSTREAM_NAME_RE, { message: 'must be lower-case letters, digits, "-" or "_" (at most 63), starting with a letter or digit' })
      .refine((n) => !RESERVED_NAMES.has(n), { message: `is reserved (${[...RESERVED_NAMES].join(', ')})` }),
    url: httpUrl('url'),
    username: z.string().min(1).optional(),
    passwordEnv: envName.optional(),
    passwordFile: z.string().min(1).optional(),
    connectTimeoutMs: z.number().int().positive().optional(),
    idleTimeoutMs: z.number().int().positive().optional(),
  })
  .superRefine((u, ctx) => {
    if (u.passwordEnv !== undefined && u.passwordFile !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'give passwordEnv or passwordFile, not both' });
    }
    if (u.username !== undefined && u.passwordEnv === undefined && u.passwordFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['username'], message: 'a username needs passwordEnv or passwordFile' });
    }
  });

const issuerSchema = z
  .strictObject({
    issuer: z.string().min(1),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    jwksUri: z.string().url().optional(),
    jwksFile: z.string().min(1).optional(),
    algorithms: z.array(z.string().min(1)).min(1).optional(),
    groupsClaim: z.string().min(1).optional(),
    emailClaim: z.string().min(1).optional(),
  })
  .superRefine((i, ctx) => {
    if ((i.jwksUri === undefined) === (i.jwksFile === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['jwksUri'], message: 'give exactly one of jwksUri and jwksFile' });
    }
  });

const limitsShape = Object.fromEntries(
  (Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]).map((k) => [k, z.number().int().positive().optional()]),
) as Record<keyof Limits, z.ZodOptional<z.ZodNumber>>;

const configSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      trustedProxies: z.array(z.string().refine(isAddressOrCidr, { message: 'must be an IP address or a CIDR block' })).default([]),
    })
    .default({ host: '127.0.0.1', port: 8080, trustedProxies: [] }),
  publicUrl: httpUrl('publicUrl').optional(),
  dataDir: z.string().min(1).default('./data'),
  database: z
    .strictObject({
      url: z.string().min(1).optional(),
      urlEnv: envName.optional(),
      autoMigrate: z.boolean().default(true),
    })
    .superRefine((d, ctx) => {
      if (d.url !== undefined && d.urlEnv !== undefined) ctx.addIssue({ code: 'custom', path: ['urlEnv'], message: 'give url or urlEnv, not both' });
    })
    .default({ autoMigrate: true }),
  upstreams: z
    .array(upstreamSchema)
    .min(1)
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((u, i) => {
        if (seen.has(u.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `upstream "${u.name}" is defined twice` });
        seen.add(u.name);
      });
    }),
  auth: z
    .strictObject({
      issuers: z.array(issuerSchema).default([]),
      agentClaim: z.string().min(1).default('agent'),
      clockToleranceSec: z.number().min(0).optional(),
      gateway: z
        .strictObject({
          issuer: z.string().min(1).optional(),
          audience: z.string().min(1).optional(),
          signingKeyFile: z.string().min(1).optional(),
          maxTtl: z.string().min(1).optional(),
        })
        .default({}),
    })
    .default({ issuers: [], agentClaim: 'agent', gateway: {} }),
  limits: z.strictObject(limitsShape).default({}),
  log: z
    .strictObject({ level: z.enum(['error', 'warn', 'info', 'debug']).default('info') })
    .default({ level: 'info' }),
  shutdown: z
    .strictObject({ drainTimeoutMs: z.number().int().min(0).default(30_000) })
    .default({ drainTimeoutMs: 30_000 }),
  /** Rules pushes are decided by (docs/POLICY.md); absent: no rules, every inspected push is allowed. */
  policy: PolicyConfigSchema.optional(),
  /** Held pushes: how long they wait, their key, `-o wait`, the relay of approved ones, webhooks (docs/HOLDS.md). */
  holds: holdsSchema.default({
    ttl: HOLD_DEFAULTS.ttl,
    keyEnv: HOLD_DEFAULTS.keyEnv,
    maxHeldPackBytes: HOLD_DEFAULTS.maxHeldPackBytes,
    maxWait: HOLD_DEFAULTS.maxWait,
    keepAlive: HOLD_DEFAULTS.keepAlive,
    relay: { ...HOLD_DEFAULTS.relay },
    webhooks: [],
  }),
});

/** The config file's JSON Schema (draft 2020-12), for editors and CI (`pushgate config schema`). */
export function configJsonSchema(): Record<string, unknown> {
  // The input side: what may be written, defaults optional.
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/** The config file as written, validated (defaults applied, secrets not yet read). */
export type ConfigFile = z.infer<typeof configSchema>;

/** What may be written in a config file (the input side, before defaults). */
export type ConfigFileInput = z.input<typeof configSchema>;

/** The configuration the gateway runs with: paths absolute, secrets read. */
export interface GatewayConfig {
  /** Where it came from (a file path or a name), for messages. */
  readonly source: string;
  readonly listen: { readonly host: string; readonly port: number; readonly trustedProxies: readonly string[] };
  /**
   * Base of links the gateway prints; defaults to http://<listen.host>:<listen.port>. Undefined when
   * listen.port is 0 and none is configured: the port is chosen when the gateway listens, and the
   * links then use it (see listeningPublicUrl).
   */
  readonly publicUrl: string | undefined;
  readonly dataDir: string;
  readonly database: { readonly url?: string; readonly autoMigrate: boolean };
  readonly upstreams: readonly UpstreamEndpoint[];
  readonly auth: {
    readonly issuers: readonly ResolvedIssuer[];
    readonly agentClaim: string;
    readonly clockToleranceSec?: number;
    readonly gateway: { readonly issuer: string; readonly audience: string; readonly signingKeyFile?: string; readonly maxTtl?: string };
  };
  readonly limits: Limits;
  readonly log: { readonly level: 'error' | 'warn' | 'info' | 'debug' };
  readonly shutdown: { readonly drainTimeoutMs: number };
  /** The policy pushes are decided by; undefined: no rules (every inspected push is allowed). */
  readonly policy: PolicyConfig | undefined;
  readonly holds: HoldsConfig;
  /** Every secret value read while resolving (upstream passwords and the Basic values built from them, the database password), for the masker. */
  readonly secretValues: readonly string[];
}

/** The `holds` section, durations in milliseconds and secrets read. */
export interface HoldsConfig {
  readonly ttlMs: number;
  /** The environment variable the hold key was looked up in. */
  readonly keyEnv: string;
  /** The base64 key from `keyEnv`; undefined: generated in (and read from) `dataDir`. */
  readonly key: string | undefined;
  readonly maxHeldPackBytes: number;
  /** The longest `git push -o wait`. */
  readonly maxWaitMs: number;
  /** How often a waiting push is sent a keep-alive. */
  readonly keepAliveMs: number;
  readonly relay: { readonly leaseMs: number; readonly retryInitialMs: number; readonly retryMaxMs: number };
  readonly webhooks: readonly HoldWebhookConfig[];
}

/** One webhook target, its secret read. */
export interface HoldWebhookConfig {
  readonly url: string;
  /** Undefined: every event. */
  readonly events: readonly HoldEvent[] | undefined;
  /** The HMAC-SHA256 key of `X-Pushgate-Signature`; undefined: unsigned. */
  readonly secret: string | undefined;
  readonly format: 'json' | 'slack';
}

/** An external issuer as the authenticator takes it, with its JWKS file path made absolute. */
export type ResolvedIssuer = Pick<IssuerConfig, 'issuer' | 'audience' | 'jwksUri' | 'jwksFile' | 'algorithms' | 'groupsClaim' | 'emailClaim'>;

/** The default audience of gateway-issued tokens. */
export const DEFAULT_GATEWAY_AUDIENCE = 'pushgate';
/** The default username the gateway presents to an upstream (GitHub's convention for tokens). */
export const DEFAULT_UPSTREAM_USERNAME = 'x-access-token';

/** Parses and validates config text; throws ConfigError listing every issue with its line. */
export function parseConfigText(text: string, source: string): ConfigFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      'CONFIG_INVALID',
      source,
      doc.errors.map((e) => ({
        path: '',
        line: e.linePos?.[0].line,
        column: e.linePos?.[0].col,
        message: e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, ''),
      })),
    );
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) {
    throw new ConfigError('CONFIG_INVALID', source, [{ path: '', line: 1, column: 1, message: 'the config is empty' }]);
  }
  const result = configSchema.safeParse(value);
  if (result.success) return result.data;
  const issues: ConfigIssue[] = [];
  for (const issue of result.error.issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const rule = policyRuleOf(value, path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const pos = locate(doc.contents, lineCounter, path, key);
        issues.push({ path: formatPath([...path, key]), ...pos, ...rule, message: 'unknown key' });
      }
      continue;
    }
    const pos = locate(doc.contents, lineCounter, path);
    issues.push({ path: formatPath(path), ...pos, ...rule, message: withoutRulePrefix(issue.message, rule.rule) });
  }
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  throw new ConfigError('CONFIG_INVALID', source, issues);
}

/**
 * The id of the policy rule a key path lies in (`policy.rules[i]…`), so that an error names the
 * rule as reasons and `pushgate policy` do, besides its key path and line.
 */
function policyRuleOf(config: unknown, path: readonly (string | number)[]): { rule?: string } {
  if (path[0] !== 'policy' || path[1] !== 'rules' || typeof path[2] !== 'number') return {};
  const rules = field(field(config, 'policy'), 'rules');
  const id = Array.isArray(rules) ? field(rules[path[2]], 'id') : undefined;
  return typeof id === 'string' && id !== '' ? { rule: id } : {};
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}

/** A message of the policy's own checks starts with the rule's name, which the issue already carries. */
function withoutRulePrefix(message: string, rule: string | undefined): string {
  const prefix = rule === undefined ? undefined : `rule ${JSON.stringify(rule)}: `;
  return prefix !== undefined && message.startsWith(prefix) ? message.slice(prefix.length) : message;
}

/** Options of resolveConfig / loadConfig. */
export interface ResolveOptions {
  /** Directory relative paths are resolved against (the config file's directory). */
  readonly baseDir: string;
  /** Where `passwordEnv` / `urlEnv` are looked up; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * 'read' (default) reads upstream passwords; 'skip' leaves upstreams without credentials, for
   * commands that never talk to an upstream (`token issue`, `migrate`).
   */
  readonly upstreamSecrets?: 'read' | 'skip';
}

/** Reads secrets and makes paths absolute; throws CONFIG_SECRET_MISSING naming the variable. */
export async function resolveConfig(file: ConfigFile, source: string, options: ResolveOptions): Promise<GatewayConfig> {
  const env = options.env ?? process.env;
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(options.baseDir, p));
  const secretValues: string[] = [];
  const upstreams: UpstreamEndpoint[] = [];
  for (const [i, u] of file.upstreams.entries()) {
    let password: string | undefined;
    if (options.upstreamSecrets === 'skip') {
      // Not needed by the caller; nothing is read.
    } else if (u.passwordEnv !== undefined) {
      password = env[u.passwordEnv];
      if (password === undefined || password === '') {
        throw new ConfigError('CONFIG_SECRET_MISSING', source, [
          { path: `upstreams[${i}].passwordEnv`, message: `environment variable ${u.passwordEnv} (the password of upstream "${u.name}") is not set` },
        ]);
      }
    } else if (u.passwordFile !== undefined) {
      const path = abs(u.passwordFile);
      try {
        password = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
      } catch (e) {
        throw new ConfigError('CONFIG_SECRET_UNREADABLE', source, [
          { path: `upstreams[${i}].passwordFile`, message: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}` },
        ]);
      }
      if (password === '') {
        throw new ConfigError('CONFIG_SECRET_MISSING', source, [{ path: `upstreams[${i}].passwordFile`, message: `${path} is empty` }]);
      }
    }
    const username = u.username ?? DEFAULT_UPSTREAM_USERNAME;
    if (password !== undefined) secretValues.push(password, Buffer.from(`${username}:${password}`).toString('base64'));
    upstreams.push({
      name: u.name,
      url: u.url,
      credential: password === undefined ? { kind: 'none' } : { kind: 'basic', username, password },
      connectTimeoutMs: u.connectTimeoutMs,
      idleTimeoutMs: u.idleTimeoutMs,
    });
  }

  let databaseUrl = file.database.url;
  if (file.database.urlEnv !== undefined) {
    databaseUrl = env[file.database.urlEnv];
    if (databaseUrl === undefined || databaseUrl === '') {
      throw new ConfigError('CONFIG_SECRET_MISSING', source, [
        { path: 'database.urlEnv', message: `environment variable ${file.database.urlEnv} (the database URL) is not set` },
      ]);
    }
  }
  if (databaseUrl !== undefined) {
    try {
      const password = decodeURIComponent(new URL(databaseUrl).password);
      if (password) secretValues.push(password);
    } catch {
      // Not a URL pg can use either; openDatabase reports it.
    }
  }

  const holds = resolveHolds(file.holds, source, env, secretValues, options.upstreamSecrets !== 'skip');

  const listenUrl = `http://${hostForUrl(file.listen.host)}:${file.listen.port}`;
  const publicUrl = file.publicUrl !== undefined ? file.publicUrl.replace(/\/+$/, '') : file.listen.port === 0 ? undefined : listenUrl;
  return {
    source,
    listen: file.listen,
    publicUrl,
    dataDir: abs(file.dataDir),
    database: { url: databaseUrl, autoMigrate: file.database.autoMigrate },
    upstreams,
    auth: {
      issuers: file.auth.issuers.map((i) => ({ ...i, jwksFile: i.jwksFile === undefined ? undefined : abs(i.jwksFile) })),
      agentClaim: file.auth.agentClaim,
      clockToleranceSec: file.auth.clockToleranceSec,
      gateway: {
        // With listen.port 0 and no publicUrl the issuer stays http://<host>:0 rather than follow
        // the port chosen at start: `pushgate token issue --config` reads only this file, and its
        // tokens must name the issuer the running gateway expects.
        issuer: file.auth.gateway.issuer ?? publicUrl ?? listenUrl,
        audience: file.auth.gateway.audience ?? DEFAULT_GATEWAY_AUDIENCE,
        signingKeyFile: file.auth.gateway.signingKeyFile === undefined ? undefined : abs(file.auth.gateway.signingKeyFile),
        maxTtl: file.auth.gateway.maxTtl,
      },
    },
    limits: { ...DEFAULT_LIMITS, ...definedOnly(file.limits) },
    log: file.log,
    shutdown: file.shutdown,
    policy: file.policy,
    holds,
    secretValues,
  };
}

/** The `holds` section resolved: durations in milliseconds, the key and webhook secrets read from the environment. */
function resolveHolds(file: ConfigFile['holds'], source: string, env: Readonly<Record<string, string | undefined>>, secretValues: string[], readWebhookSecrets: boolean): HoldsConfig {
  // Unset is allowed: the hold store then generates a key in dataDir (one replica's default).
  const key = env[file.keyEnv] === '' ? undefined : env[file.keyEnv];
  if (key !== undefined) secretValues.push(key);
  const webhooks = file.webhooks.map((w, i): HoldWebhookConfig => {
    let secret: string | undefined;
    // Commands that never serve (upstreamSecrets 'skip') need no webhook secret either.
    if (w.secretEnv !== undefined && readWebhookSecrets) {
      secret = env[w.secretEnv];
      if (secret === undefined || secret === '') {
        throw new ConfigError('CONFIG_SECRET_MISSING', source, [
          { path: `holds.webhooks[${i}].secretEnv`, message: `environment variable ${w.secretEnv} (the signing secret of webhook ${w.url}) is not set` },
        ]);
      }
      secretValues.push(secret);
    }
    return { url: w.url, events: w.events, secret, format: w.format };
  });
  return {
    ttlMs: durationMs(file.ttl),
    keyEnv: file.keyEnv,
    key,
    maxHeldPackBytes: file.maxHeldPackBytes,
    maxWaitMs: durationMs(file.maxWait),
    keepAliveMs: durationMs(file.keepAlive),
    relay: { leaseMs: durationMs(file.relay.lease), retryInitialMs: durationMs(file.relay.retryInitial), retryMaxMs: durationMs(file.relay.retryMax) },
    webhooks,
  };
}

/** Reads, validates and resolves a config file. */
export async function loadConfig(path: string, options: Omit<ResolveOptions, 'baseDir'> = {}): Promise<GatewayConfig> {
  const file = await readConfigFile(path);
  return resolveConfig(file, path, { ...options, baseDir: dirname(resolve(path)) });
}

/** Reads and validates a config file without resolving secrets (`pushgate config validate`). */
export async function readConfigFile(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError('CONFIG_UNREADABLE', path, [{ path: '', message: `cannot read the config file (${(e as NodeJS.ErrnoException).code ?? 'error'})` }]);
  }
  return parseConfigText(text, path);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The base of links of a gateway listening on `port`: publicUrl, or derived from the listening address. */
export function listeningPublicUrl(config: Pick<GatewayConfig, 'publicUrl' | 'listen'>, port: number): string {
  return config.publicUrl ?? `http://${hostForUrl(config.listen.host)}:${port}`;
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

/** Line and column of the node at `path` (or of the key `key` below it), else of its nearest parent. */
function locate(
  root: YamlNode | null,
  lineCounter: LineCounter,
  path: readonly (string | number)[],
  key?: string,
): { line?: number; column?: number } {
  let node: unknown = root;
  let best: { range?: [number, number, number] | null } | undefined = root ?? undefined;
  const steps: (string | number)[] = key === undefined ? [...path] : [...path, key];
  for (const [i, step] of steps.entries()) {
    const last = i === steps.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === step);
      if (!pair) break;
      // An unknown key is pointed at by its key; everything else by its value.
      const keyNode = pair.key as { range?: [number, number, number] | null };
      const valueNode = pair.value as { range?: [number, number, number] | null } | null;
      best = last && key !== undefined ? keyNode : (valueNode ?? keyNode);
      node = pair.value;
    } else if (isSeq(node) && typeof step === 'number') {
      const item = node.items[step] as { range?: [number, number, number] | null } | undefined;
      if (!item) break;
      best = item;
      node = item;
    } else {
      break;
    }
  }
  const offset = best?.range?.[0];
  if (offset === undefined) return {};
  const pos = lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}
