import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS } from '@pushgate/core';
import { ConfigError, configJsonSchema, listeningPublicUrl, loadConfig, parseConfigText, resolveConfig } from './config';

function issuesOf(text: string) {
  try {
    parseConfigText(text, 'pushgate.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.data!.issues;
    throw e;
  }
  throw new Error('expected the config to be refused');
}

const FULL = `listen: { host: 0.0.0.0, port: 8443 }
publicUrl: https://gate.example.com/
dataDir: ./state
database: { urlEnv: DB_URL }
upstreams:
  - name: github
    url: https://github.com
    username: x-access-token
    passwordEnv: GH_TOKEN
    idleTimeoutMs: 60000
  - name: open
    url: http://git.internal:8080/git/
auth:
  issuers:
    - { issuer: https://idp.example.com, audience: [pushgate, git], jwksUri: https://idp.example.com/jwks }
    - { issuer: https://other.example.com, audience: pushgate, jwksFile: ./jwks.json, algorithms: [ES256] }
  agentClaim: is_agent
  gateway: { audience: pushgate-gw, maxTtl: 7d }
limits: { maxPackBytes: 1048576 }
log: { level: debug }
shutdown: { drainTimeoutMs: 5000 }
`;

describe('config', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pushgate-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names the key path and the line of every problem, unknown keys included', () => {
    const issues = issuesOf(`listen: { host: 127.0.0.1, port: 99999 }
upstreams:
  - name: local
    url: http://127.0.0.1:9301
    passwrdEnv: TOKEN
  - name: Bad Name
    url: ftp://example.com
  - name: local
    url: http://u:p@example.com/
logg: { level: info }
limits: { maxPackBytes: -1, maxWidgets: 3 }
`);
    expect(issues.map((i) => `${i.line}:${i.path}`)).toEqual([
      '1:listen.port',
      '5:upstreams[0].passwrdEnv',
      '6:upstreams[1].name',
      '7:upstreams[1].url',
      '8:upstreams[2].name',
      '9:upstreams[2].url',
      '10:logg',
      '11:limits.maxPackBytes',
      '11:limits.maxWidgets',
    ]);
    expect(issues.find((i) => i.path === 'logg')!.message).toBe('unknown key');
    expect(issues.find((i) => i.path === 'upstreams[2].name')!.message).toContain('defined twice');
  });

  it('reports YAML syntax errors and an empty file with their line', () => {
    expect(issuesOf('upstreams: [\n')[0].line).toBeDefined();
    expect(issuesOf('a: 1\na: 2\n')[0]).toMatchObject({ line: 2 });
    expect(issuesOf('')).toEqual([{ path: '', line: 1, column: 1, message: 'the config is empty' }]);
    expect(issuesOf('listen: {}\n').map((i) => i.path)).toEqual(['upstreams']);
  });

  it('formats messages as file:line:col: path: message', () => {
    try {
      parseConfigText('upstreams:\n  - name: x\n    url: nope\n', 'gw.yaml');
    } catch (e) {
      expect((e as ConfigError).message).toBe('gw.yaml:3:10: upstreams[0].url: url must be an http(s) URL without credentials, query or fragment');
      expect((e as ConfigError).code).toBe('CONFIG_INVALID');
    }
  });

  it('takes a policy; without one there are no rules', async () => {
    const base = 'upstreams:\n  - { name: a, url: "http://h/" }\n';
    const none = await resolveConfig(parseConfigText(base, 'gw.yaml'), 'gw.yaml', { baseDir: dir });
    expect(none.policy).toBeUndefined();
    const text = `${base}policy:\n  rules:\n    - id: no-force-push\n      refs: [refs/heads/main]\n      when: { forcePush: true }\n      action: deny\n`;
    const withRules = await resolveConfig(parseConfigText(text, 'gw.yaml'), 'gw.yaml', { baseDir: dir });
    expect(withRules.policy?.rules).toEqual([expect.objectContaining({ id: 'no-force-push', action: 'deny', mode: 'enforce' })]);
  });

  it('names the policy rule of a problem, besides its key path and line', () => {
    const text = `upstreams:
  - { name: a, url: "http://h/" }
policy:
  rules:
    - id: no-force-push
      when: { forcePuhs: true }
      action: deny
    - id: protected
      paths: [deploy/**]
      action: hold
    - id: emails
      when: { authorEmail: { require: "([a-z" } }
      action: deny
`;
    const issues = issuesOf(text);
    expect(issues).toEqual([
      expect.objectContaining({ path: 'policy.rules[0].when.forcePuhs', line: 6, rule: 'no-force-push', message: 'unknown key' }),
      expect.objectContaining({ path: 'policy.rules[1].approvers', line: 8, rule: 'protected', message: expect.stringContaining('action hold needs approvers') }),
      expect.objectContaining({ path: 'policy.rules[2].when.authorEmail.require', line: 12, rule: 'emails', message: expect.stringContaining('not valid RE2') }),
    ]);
    try {
      parseConfigText(text, 'gw.yaml');
    } catch (e) {
      expect((e as ConfigError).message.split('\n')[0]).toBe('gw.yaml:6:15: policy.rules[0].when.forcePuhs: rule "no-force-push": unknown key');
    }
  });

  it('describes itself as a JSON Schema, policy included', () => {
    const schema = configJsonSchema() as { properties: Record<string, { properties?: Record<string, unknown> }>; required?: string[] };
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['listen', 'upstreams', 'limits', 'policy']));
    expect(schema.required).toEqual(['upstreams']);
    expect(Object.keys(schema.properties.policy.properties ?? {})).toEqual(expect.arrayContaining(['rules', 'secrets']));
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });

  it('resolves a full config: paths against the file, secrets from the environment, defaults', async () => {
    const path = join(dir, 'full.yaml');
    await writeFile(path, FULL);
    const config = await loadConfig(path, { env: { GH_TOKEN: 'gh-secret-value', DB_URL: 'postgres://u:db%20pass@db/pushgate' } });
    expect(config.dataDir).toBe(join(dir, 'state'));
    expect(config.publicUrl).toBe('https://gate.example.com');
    expect(config.database).toEqual({ url: 'postgres://u:db%20pass@db/pushgate', autoMigrate: true });
    expect(config.upstreams[0]).toEqual({
      name: 'github',
      url: 'https://github.com',
      credential: { kind: 'basic', username: 'x-access-token', password: 'gh-secret-value' },
      connectTimeoutMs: undefined,
      idleTimeoutMs: 60000,
    });
    expect(config.upstreams[1].credential).toEqual({ kind: 'none' });
    expect(config.auth.issuers[1].jwksFile).toBe(join(dir, 'jwks.json'));
    expect(config.auth.gateway).toEqual({ issuer: 'https://gate.example.com', audience: 'pushgate-gw', signingKeyFile: undefined, maxTtl: '7d' });
    expect(config.limits).toEqual({ ...DEFAULT_LIMITS, maxPackBytes: 1048576 });
    expect(config.secretValues).toEqual(expect.arrayContaining(['gh-secret-value', Buffer.from('x-access-token:gh-secret-value').toString('base64'), 'db pass']));
  });

  it('derives publicUrl from the listening port when listen.port is 0, keeping a fixed token issuer', async () => {
    const resolve = (text: string) => resolveConfig(parseConfigText(`upstreams:\n  - { name: a, url: "http://h/" }\n${text}`, 'gw.yaml'), 'gw.yaml', { baseDir: dir });
    const free = await resolve('listen: { port: 0 }\n');
    expect(free.publicUrl).toBeUndefined();
    // `pushgate token issue` reads only the file, so the issuer cannot follow the port the gateway gets.
    expect(free.auth.gateway.issuer).toBe('http://127.0.0.1:0');
    expect(listeningPublicUrl(free, 41234)).toBe('http://127.0.0.1:41234');
    const wildcard = await resolve('listen: { host: "::", port: 0 }\n');
    expect(listeningPublicUrl(wildcard, 41234)).toBe('http://127.0.0.1:41234');
    const v6 = await resolve('listen: { host: "::1", port: 0 }\n');
    expect(listeningPublicUrl(v6, 41234)).toBe('http://[::1]:41234');

    const fixed = await resolve('listen: { port: 9000 }\n');
    expect(fixed.publicUrl).toBe('http://127.0.0.1:9000');
    expect(fixed.auth.gateway.issuer).toBe('http://127.0.0.1:9000');
    const configured = await resolve('listen: { port: 0 }\npublicUrl: https://gate.example.com/\n');
    expect(configured.publicUrl).toBe('https://gate.example.com');
    expect(configured.auth.gateway.issuer).toBe('https://gate.example.com');
    expect(listeningPublicUrl(configured, 41234)).toBe('https://gate.example.com');
  });

  it('refuses to start without an upstream password, naming the variable but not any value', async () => {
    const path = join(dir, 'missing.yaml');
    await writeFile(path, FULL);
    await expect(loadConfig(path, { env: { DB_URL: 'postgres://db/x' } })).rejects.toMatchObject({
      code: 'CONFIG_SECRET_MISSING',
      message: expect.stringContaining('environment variable GH_TOKEN'),
    });
    const skipped = await loadConfig(path, { env: { DB_URL: 'postgres://db/x' }, upstreamSecrets: 'skip' });
    expect(skipped.upstreams[0].credential).toEqual({ kind: 'none' });
  });

  it('reads a password file and reports an unreadable one', async () => {
    const path = join(dir, 'file.yaml');
    await writeFile(join(dir, 'pw'), 'from-a-file\n');
    await writeFile(path, 'upstreams:\n  - { name: a, url: "http://h/", passwordFile: ./pw }\n  - { name: b, url: "http://h/", passwordFile: ./nope }\n');
    await expect(loadConfig(path)).rejects.toMatchObject({ code: 'CONFIG_SECRET_UNREADABLE' });
    await writeFile(path, 'upstreams:\n  - { name: a, url: "http://h/", passwordFile: ./pw }\n');
    expect((await loadConfig(path)).upstreams[0].credential).toEqual({ kind: 'basic', username: 'x-access-token', password: 'from-a-file' });
  });

  it('holds: defaults in milliseconds, durations and webhooks checked with their line, the key and webhook secrets read from the environment', async () => {
    const resolve = (text: string, env: Record<string, string> = {}) =>
      resolveConfig(parseConfigText(`upstreams:\n  - { name: a, url: "http://h/" }\n${text}`, 'gw.yaml'), 'gw.yaml', { baseDir: dir, env });
    const defaults = await resolve('');
    expect(defaults.holds).toEqual({
      ttlMs: 72 * 3_600_000,
      keyEnv: 'PUSHGATE_HOLD_KEY',
      key: undefined,
      maxHeldPackBytes: 1024 ** 3,
      maxWaitMs: 3_600_000,
      keepAliveMs: 5_000,
      relay: { leaseMs: 30_000, retryInitialMs: 1_000, retryMaxMs: 300_000 },
      webhooks: [],
    });

    const key = Buffer.alloc(32, 7).toString('base64');
    const full = await resolve(
      `holds:
  ttl: 7d
  keyEnv: HOLD_KEY
  maxHeldPackBytes: 1048576
  maxWait: 10m
  keepAlive: 2s
  relay: { lease: 1m, retryInitial: 5s, retryMax: 1h }
  webhooks:
    - { url: https://hooks.example.com/pushgate, secretEnv: HOOK_SECRET }
    - { url: https://hooks.slack.com/services/x, events: [held, rejected], format: slack }
`,
      { HOLD_KEY: key, HOOK_SECRET: 'hook-secret-value' },
    );
    expect(full.holds).toEqual({
      ttlMs: 7 * 86_400_000,
      keyEnv: 'HOLD_KEY',
      key,
      maxHeldPackBytes: 1048576,
      maxWaitMs: 600_000,
      keepAliveMs: 2_000,
      relay: { leaseMs: 60_000, retryInitialMs: 5_000, retryMaxMs: 3_600_000 },
      webhooks: [
        { url: 'https://hooks.example.com/pushgate', events: undefined, secret: 'hook-secret-value', format: 'json' },
        { url: 'https://hooks.slack.com/services/x', events: ['held', 'rejected'], secret: undefined, format: 'slack' },
      ],
    });
    expect(full.secretValues).toEqual(expect.arrayContaining([key, 'hook-secret-value']));

    await expect(resolve('holds:\n  webhooks:\n    - { url: https://h.example.com/, secretEnv: NOPE }\n')).rejects.toMatchObject({
      code: 'CONFIG_SECRET_MISSING',
      message: expect.stringContaining('holds.webhooks[0].secretEnv: environment variable NOPE'),
    });

    const issues = issuesOf(`upstreams:
  - { name: a, url: "http://h/" }
holds:
  ttl: 3 days
  maxWait: 0s
  relay: { lease: 30 }
  webhooks:
    - { url: ftp://x, events: [merged] }
  waitMax: 1h
`);
    expect(issues).toEqual([
      expect.objectContaining({ path: 'holds.ttl', line: 4, message: expect.stringContaining('must be a duration') }),
      expect.objectContaining({ path: 'holds.maxWait', line: 5 }),
      expect.objectContaining({ path: 'holds.relay.lease', line: 6 }),
      expect.objectContaining({ path: 'holds.webhooks[0].url', line: 8 }),
      expect.objectContaining({ path: 'holds.webhooks[0].events[0]', line: 8 }),
      expect.objectContaining({ path: 'holds.waitMax', line: 9, message: 'unknown key' }),
    ]);
  });
});
