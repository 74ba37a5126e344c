/**
 * The CLI as users run it: the bundle (`npm run build`) as a child process.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIGRATIONS } from '@pushgate/store';
import { createGitEnv, defaultBundlePath, startGateway, startGitUpstream, type GitEnv, type GitUpstream } from '@pushgate/testkit';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function pushgate(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [defaultBundlePath(), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('pushgate CLI', () => {
  let dir: string;
  let upstream: GitUpstream;
  let git: GitEnv;
  const secret = 'cli-test-upstream-secret-42';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pushgate-cli-'));
    upstream = await startGitUpstream({ auth: { username: 'x-access-token', password: secret } });
    await upstream.createRepo('app.git', { initialCommit: true });
    git = await createGitEnv();
  });
  afterAll(async () => {
    await upstream?.close();
    await git?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints its version and help, and refuses unknown commands with exit 2', async () => {
    const version = await pushgate(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
    const help = await pushgate(['--help']);
    expect(help.code).toBe(0);
    for (const verb of ['serve', 'demo', 'token issue', 'migrate', 'config validate', 'config schema', 'dev-upstream']) expect(help.stdout).toContain(verb);
    for (const verb of [['serve'], ['demo'], ['token', '--help'], ['migrate'], ['config', '--help'], ['dev-upstream']]) {
      const r = await pushgate(verb.length === 1 ? [...verb, '--help'] : verb);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: pushgate /);
    }
    expect((await pushgate(['frobnicate'])).code).toBe(2);
    expect((await pushgate(['serve', '--bogus'])).code).toBe(2);
    expect((await pushgate(['serve'])).stderr).toContain('--config is required');
  });

  it('validates config files: exit 0 when valid, 3 with the key path and line when not', async () => {
    const good = join(dir, 'good.yaml');
    await writeFile(good, 'upstreams:\n  - name: local\n    url: http://127.0.0.1:9301\n    passwordEnv: NOT_NEEDED_TO_VALIDATE\n');
    expect(await pushgate(['config', 'validate', good])).toMatchObject({ code: 0, stdout: `${good}: valid\n` });
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'listen:\n  port: "eighty"\nupstreams:\n  - name: local\n    url: http://127.0.0.1:9301\n    pasword: x\n');
    const r = await pushgate(['config', 'validate', bad]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${bad}:2:9: listen.port: `);
    expect(r.stderr).toContain(`${bad}:6:5: upstreams[0].pasword: unknown key`);
    expect((await pushgate(['config', 'validate', join(dir, 'missing.yaml')])).code).toBe(3);
    const badRule = join(dir, 'bad-rule.yaml');
    await writeFile(badRule, 'upstreams:\n  - { name: local, url: "http://127.0.0.1:9301" }\npolicy:\n  rules:\n    - id: guard-main\n      refs: [refs/heads/main]\n      action: hold\n');
    const rule = await pushgate(['config', 'validate', badRule]);
    expect(rule.code).toBe(3);
    expect(rule.stderr).toContain(`${badRule}:5:7: policy.rules[0].approvers: rule "guard-main": action hold needs approvers`);
  });

  it('prints the JSON Schema of the config file', async () => {
    const r = await pushgate(['config', 'schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as { $schema: string; properties: Record<string, unknown> };
    expect(schema.$schema).toContain('json-schema.org');
    expect(Object.keys(schema.properties)).toContain('policy');
  });

  it('refuses to serve without the upstream password, naming the variable (exit 3)', async () => {
    const config = join(dir, 'nosecret.yaml');
    await writeFile(config, `dataDir: ./nosecret-data\nupstreams:\n  - { name: local, url: "${upstream.url}", passwordEnv: PUSHGATE_CLI_TEST_PASSWORD }\n`);
    const r = await pushgate(['serve', '--config', config]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('PUSHGATE_CLI_TEST_PASSWORD');
  });

  it('serves bare repositories with dev-upstream, behind a Basic credential, until SIGTERM', async () => {
    const root = join(dir, 'dev-repos');
    await git.gitOk(['init', '-q', '--bare', join(root, 'r.git')]);
    const child = spawn(process.execPath, [defaultBundlePath(), 'dev-upstream', '--root', root, '--port', '0', '--username', 'u', '--password-env', 'DEV_PW'], {
      env: { ...process.env, DEV_PW: 'dev-upstream-password' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        const m = / at (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
    });
    const withCredential = new URL(`${url}/r.git`);
    withCredential.username = 'u';
    withCredential.password = 'dev-upstream-password';
    expect((await git.git(['ls-remote', withCredential.toString()])).code).toBe(0);
    expect((await git.git(['ls-remote', `${url}/r.git`])).code).not.toBe(0);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('migrates, and issues a token that git can use through the gateway it configures', async () => {
    const gw = await startGateway({
      mode: 'child',
      config: { upstreams: [{ name: 'local', url: upstream.url, passwordEnv: 'UP_PASSWORD' }], log: { level: 'info' } },
      env: { UP_PASSWORD: secret },
    });
    try {
      const issued = await pushgate(['token', 'issue', '--config', gw.configPath, '--sub', 'carol', '--email', 'carol@example.com', '--groups', 'dev,ops', '--agent', '--ttl', '10m']);
      expect(issued.code).toBe(0);
      const lines = issued.stdout.split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(1);
      const token = lines[0];
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      const url = new URL(`${gw.url}/local/app.git`);
      url.username = 'carol';
      url.password = token;
      const clone = await git.git(['clone', url.toString(), 'carol']);
      expect(clone.code).toBe(0);
      const line = gw.logs.find((l) => l.includes('"route":"upload-pack"') && l.includes('"sub":"carol"'));
      expect(line).toBeDefined();
      expect(JSON.parse(line!)).toMatchObject({ agent: true, status: 200 });
      expect((await pushgate(['token', 'issue', '--config', gw.configPath, '--sub', 'x', '--ttl', '400d'])).code).toBe(1);
      // listen.port 0 and no publicUrl: the links follow the port the gateway got, not port 0.
      const listening = JSON.parse(gw.logs.find((l) => l.includes('"message":"listening"'))!) as { url: string; publicUrl: string };
      expect(listening.publicUrl).toBe(gw.url);
      expect(new URL(listening.publicUrl).port).not.toBe('0');
    } finally {
      const exit = await gw.stop();
      expect(exit).toEqual({ code: 0, signal: null });
    }
    const fresh = join(dir, 'fresh.yaml');
    await writeFile(fresh, `dataDir: ./fresh-data\nupstreams:\n  - { name: local, url: "${upstream.url}" }\n`);
    expect(await pushgate(['migrate', '--config', fresh])).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`^applied: 1 .*; schema version ${MIGRATIONS.length}\n$`)) });
    expect(await pushgate(['migrate', '--config', fresh])).toMatchObject({ code: 0, stdout: `schema is current (version ${MIGRATIONS.length})\n` });
  });
});
