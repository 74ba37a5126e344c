/**
 * `pushgate demo` end to end, as the README's first command: start it as a child, read the clone
 * URL it prints, clone and push with git, have a held push approved with the reviewer's
 * credentials it prints (the CLI as a reader would run it), stop it with Ctrl-C (SIGINT).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGitEnv, defaultBundlePath, type GitEnv } from '@pushgate/testkit';

describe('pushgate demo', () => {
  let dir: string;
  let git: GitEnv;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pushgate-demo-'));
    git = await createGitEnv();
  });
  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    await git?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints a clone URL that git can clone and push through, and stops cleanly on Ctrl-C', async () => {
    const dataDir = join(dir, 'demo-data');
    const proc = spawn(process.execPath, [defaultBundlePath(), 'demo', '--port', '0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let stdout = '';
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const cloneUrl = await new Promise<string>((resolve, reject) => {
      proc.stdout.setEncoding('utf8').on('data', (c: string) => {
        stdout += c;
        const m = /git clone (\S+)/.exec(stdout);
        if (m !== null && stdout.includes('Ctrl-C')) resolve(m[1]);
      });
      void exited.then((code) => reject(new Error(`demo exited (${code}) early: ${stdout}\n${stderr}`)));
    });
    expect(cloneUrl).toMatch(/^http:\/\/demo:[\w.-]+@127\.0\.0\.1:\d+\/local\/demo\.git$/);
    // --port 0: every link carries the port the gateway got.
    const gatewayUrl = /gateway\s+(\S+)/.exec(stdout)![1];
    expect(new URL(gatewayUrl).port).not.toBe('0');
    expect(new URL(cloneUrl).origin).toBe(gatewayUrl);
    expect(stdout).not.toContain(':0/');

    await git.gitOk(['clone', cloneUrl, 'demo']);
    const work = join(git.dir, 'demo');
    const commit = await git.commitFiles(work, { 'hello.txt': 'hello through pushgate\n' }, 'hello');
    await git.gitOk(['push', 'origin', 'HEAD:main'], { cwd: work });
    const upstreamHead = (await git.gitOk(['--git-dir', join(dataDir, 'upstream', 'demo.git'), 'rev-parse', 'main'])).stdout.trim();
    expect(upstreamHead).toBe(commit);

    // The demo's policy at work: main is never rewritten, and nothing of the refused push lands.
    await git.gitOk(['reset', '-q', '--hard', 'HEAD~1'], { cwd: work });
    await git.commitFiles(work, { 'hello.txt': 'rewritten\n' }, 'rewrite');
    const forced = await git.git(['push', '--force', 'origin', 'HEAD:main'], { cwd: work });
    expect(forced.code).not.toBe(0);
    expect(forced.stderr).toContain('no-force-push-main');
    expect((await git.gitOk(['--git-dir', join(dataDir, 'upstream', 'demo.git'), 'rev-parse', 'main'])).stdout.trim()).toBe(commit);

    // A change under deploy/ is held; the reviewer the demo prints approves it with the CLI, and
    // the gateway relays the held push itself.
    await git.gitOk(['reset', '-q', '--hard', commit], { cwd: work });
    const deploy = await git.commitFiles(work, { 'deploy/prod.yaml': 'replicas: 3\n' }, 'scale up');
    const held = await git.git(['push', 'origin', 'HEAD:main'], { cwd: work });
    expect(held.code).not.toBe(0);
    const holdId = /held for approval \(([a-z0-9]+)\)/.exec(held.stderr)?.[1];
    expect(holdId).toBeDefined();
    const reviewer = /export PUSHGATE_URL=(\S+) PUSHGATE_TOKEN=(\S+)/.exec(stdout);
    expect(reviewer).not.toBeNull();
    const approved = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(
        process.execPath,
        [defaultBundlePath(), 'holds', 'approve', holdId!, '--comment', 'looks right'],
        { env: { ...process.env, PUSHGATE_URL: reviewer![1], PUSHGATE_TOKEN: reviewer![2] } },
        (error, out, err) => resolve({ code: error === null ? 0 : Number(error.code ?? 1), out: out + err }),
      );
    });
    expect(approved).toMatchObject({ code: 0 });
    const upstreamMain = async () => (await git.gitOk(['--git-dir', join(dataDir, 'upstream', 'demo.git'), 'rev-parse', 'main'])).stdout.trim();
    for (let i = 0; i < 600 && (await upstreamMain()) !== deploy; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await upstreamMain()).toBe(deploy);

    // The upstream refuses anyone but the gateway.
    const upstreamUrl = /upstream\s+(\S+)/.exec(stdout)![1];
    const direct = await git.git(['ls-remote', upstreamUrl]);
    expect(direct.code).not.toBe(0);

    proc.kill('SIGINT');
    expect(await exited).toBe(0);
    const log = await readFile(join(dataDir, 'gateway.log'), 'utf8');
    expect(log).toContain('"route":"receive-pack"');
    expect(log).toContain('"message":"stopped"');
    const listening = JSON.parse(log.split('\n').find((l) => l.includes('"message":"listening"'))!) as { publicUrl: string };
    expect(listening.publicUrl).toBe(gatewayUrl);
  }, 120_000);
});
