/**
 * docker/: no Docker engine runs here, so the compose setup's own commands are run as they are
 * written — the upstream-init script, `pushgate dev-upstream` with the upstream service's
 * arguments, `pushgate serve` with docker/pushgate.yaml (only addresses, the data directory and the
 * database URL substituted), `pushgate token issue` as `docker compose exec` would run it — and
 * a real git client clones and pushes through them. The Dockerfile's sources are checked to exist.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { createGitEnv, runGit, startGateway, type GitEnv, type StartedGateway } from '@pushgate/testkit';
import { testDatabases } from '@pushgate/store/testing';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'pushgate.js');
const SECRET = 'compose-upstream-secret-7d1e';

interface ComposeService {
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
}

/** Replaces the value after `flag` in an argument list. */
function withFlag(args: string[], flag: string, value: string): string[] {
  const i = args.indexOf(flag);
  expect(i).toBeGreaterThanOrEqual(0);
  return [...args.slice(0, i + 1), value, ...args.slice(i + 2)];
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const pg = (await testDatabases()).find((d) => d.name === 'postgres');

describe('docker/ setup, run without Docker', () => {
  let dir: string;
  let services: Record<string, ComposeService>;
  let upstream: ChildProcess | undefined;
  let upstreamUrl: string;
  let gateway: StartedGateway;
  let git: GitEnv;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pushgate-docker-'));
    services = (parse(await readFile(join(ROOT, 'docker/compose.yaml'), 'utf8')) as { services: Record<string, ComposeService> }).services;
    git = await createGitEnv();
  });
  afterAll(async () => {
    await gateway?.stop();
    upstream?.kill('SIGTERM');
    await git?.cleanup();
    await pg?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the demo repository once (upstream-init), idempotently', async () => {
    const [script, repos] = services['upstream-init'].entrypoint!;
    expect(script).toBe('pushgate-init-upstream');
    expect(repos).toBe('/repos');
    const first = await run('sh', [join(ROOT, 'docker/init-upstream.sh'), join(dir, 'repos')]);
    expect(first.code).toBe(0);
    const again = await run('sh', [join(ROOT, 'docker/init-upstream.sh'), join(dir, 'repos')]);
    expect(again.stdout).toMatch(/exists/);
    const head = await runGit(git.vars, ['--git-dir', join(dir, 'repos/demo/project.git'), 'log', '--format=%s', 'main']);
    expect(head.stdout.trim()).toBe('Initial commit');
  });

  it('serves it with the upstream service command, behind a credential', async () => {
    let args = services.upstream.command!;
    expect(args[0]).toBe('dev-upstream');
    args = withFlag(withFlag(withFlag(args, '--root', join(dir, 'repos')), '--host', '127.0.0.1'), '--port', '0');
    upstream = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, UPSTREAM_TOKEN: SECRET } });
    upstreamUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      upstream!.stdout!.on('data', (d: Buffer) => {
        out += d;
        const m = /serving \S+ at (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      upstream!.once('exit', (code) => reject(new Error(`dev-upstream exited ${code}`)));
    });
    const anonymous = await fetch(`${upstreamUrl}/demo/project.git/info/refs?service=git-upload-pack`);
    expect(anonymous.status).toBe(401);
  });

  it('runs the gateway with docker/pushgate.yaml; a token from `token issue` clones and pushes through it', async () => {
    // PUSHGATE_HOLD_KEY as compose passes it when it is not set: empty (the key is then kept in the data volume).
    const env = { LOCAL_UPSTREAM_TOKEN: SECRET, PUSHGATE_HOLD_KEY: '', ...(pg ? { PUSHGATE_DATABASE_URL: (await pg.options()).url! } : {}) };
    if (pg) await (await pg.open()).close();
    const validate = await run(process.execPath, [BIN, 'config', 'validate', join(ROOT, 'docker/pushgate.yaml')], env);
    expect(validate.code).toBe(0);

    const config = parse(await readFile(join(ROOT, 'docker/pushgate.yaml'), 'utf8')) as Record<string, any>;
    expect(services.gateway.command).toEqual(['serve', '--config', '/etc/pushgate/pushgate.yaml']);
    expect(Object.keys(services.gateway.environment!).sort()).toEqual(['LOCAL_UPSTREAM_TOKEN', 'PUSHGATE_DATABASE_URL', 'PUSHGATE_HOLD_KEY']);
    config.listen = { host: '127.0.0.1', port: 0 };
    config.dataDir = join(dir, 'gateway-data');
    config.upstreams[0].url = upstreamUrl;
    if (!pg) delete config.database;
    gateway = await startGateway({ mode: 'child', config, env, dir: join(dir, 'gateway') });

    const issued = await run(process.execPath, [BIN, 'token', 'issue', '--config', gateway.configPath, '--sub', 'you'], env);
    expect(issued.code).toBe(0);
    const token = issued.stdout.trim();
    const remote = new URL(`${gateway.url}/local/demo/project.git`);
    remote.username = 'you';
    remote.password = token;
    const work = join(dir, 'work');
    await git.gitOk(['clone', '-q', remote.toString(), work]);
    await git.commitFiles(work, { 'hello.txt': 'through the compose setup\n' }, 'hello');
    await git.gitOk(['push', '-q', 'origin', 'main'], { cwd: work });
    const upstreamMain = await runGit(git.vars, ['--git-dir', join(dir, 'repos/demo/project.git'), 'log', '-1', '--format=%s', 'main']);
    expect(upstreamMain.stdout.trim()).toBe('hello');
  });

  it('builds its image from sources that exist', async () => {
    const dockerfile = await readFile(join(ROOT, 'docker/Dockerfile'), 'utf8');
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => m[1].trim().split(/\s+/).slice(0, -1));
    expect(copies.length).toBeGreaterThan(5);
    for (const source of copies) expect([source, existsSync(join(ROOT, source))]).toEqual([source, true]);
    expect(dockerfile).toMatch(/^USER pushgate$/m);
    expect(dockerfile).toMatch(/apt-get install[^\n]*\bgit\b/);
  });
});
