import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitEnvironment, killGitGroup, NO_GIT_HOME, runGit, spawnGit } from './git';

async function withDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-core-git-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('runGit', () => {
  it('resolves with stdout, stderr and the exit code, success or not', async () => {
    await withDir(async (dir) => {
      const gitDir = join(dir, 'r.git');
      expect(await runGit({ args: ['init', '-q', '--bare', gitDir] })).toMatchObject({ code: 0, signal: null, timedOut: false });
      const bad = await runGit({ gitDir, args: ['rev-parse', '--verify', 'nope'] });
      expect(bad.code).toBe(128);
      expect(bad.stderr).toContain('fatal: Needed a single revision');
      const bare = await runGit({ args: ['rev-parse', '--is-bare-repository'], cwd: gitDir });
      expect(bare.stdout.toString()).toBe('true\n');
    });
  });

  it('writes input to stdin and tolerates git exiting before reading it all', async () => {
    const hashed = await runGit({ args: ['hash-object', '--stdin'], input: 'x' });
    expect(hashed.stdout.toString()).toBe(`${createHash('sha1').update('blob 1\0x').digest('hex')}\n`);
    // `git version` never reads stdin: 8 MB against a closed pipe is an EPIPE that must not escape.
    const r = await runGit({ args: ['version'], input: Buffer.alloc(8 * 1024 * 1024, 0x61) });
    expect(r.code).toBe(0);
  });

  it("ignores the host's configuration and passes -c settings through the environment", async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, '.gitconfig'), '[user]\n\tname = Intruder\n');
      const saved = { ...process.env };
      try {
        Object.assign(process.env, { HOME: dir, GIT_CONFIG_GLOBAL: join(dir, '.gitconfig'), GIT_DIR: dir });
        const r = await runGit({ args: ['config', '--list', '--show-origin'], config: { 'http.extraHeader': 'Authorization: Basic c2VjcmV0' } });
        expect(r.stdout.toString()).not.toContain('Intruder');
        expect(r.stdout.toString()).toContain('command line:\thttp.extraheader=Authorization: Basic c2VjcmV0');
        const home = await runGit({ args: ['config', '--list', '--show-origin'], home: dir });
        expect(home.stdout.toString()).toContain('user.name=Intruder');
      } finally {
        for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
        Object.assign(process.env, saved);
      }
    });
    const env = gitEnvironment({ env: { GIT_ASKPASS: 'true' } });
    expect(env).toMatchObject({ HOME: NO_GIT_HOME, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', GIT_ASKPASS: 'true' });
    expect(env).not.toHaveProperty('GIT_CONFIG_COUNT');
    expect(Object.keys(env).filter((k) => /proxy/i.test(k))).toEqual([]);
  });

  it('keeps only the start of stderr and refuses stdout beyond its bound', async () => {
    const script = 'i=0; while [ $i -lt 2000 ]; do echo "line $i of chatter" >&2; i=$((i+1)); done; exit 3';
    const r = await runGit({ args: ['-c', `alias.chatter=!${script}`, 'chatter'], maxStderr: 100 });
    expect(r.code).toBe(3);
    expect(r.stderr).toHaveLength(100);
    expect(r.stderr.startsWith('line 0 of chatter\n')).toBe(true);
    await expect(runGit({ args: ['-c', 'alias.flood=!yes', 'flood'], maxStdout: 1024 * 1024 })).rejects.toMatchObject({
      code: 'GIT_OUTPUT_TOO_LARGE',
      data: { maxStdout: 1024 * 1024 },
    });
  });

  it('kills git and what it started on abort or timeout', async () => {
    await withDir(async (dir) => {
      const marker = join(dir, 'still-running');
      const hang = ['-c', `alias.hang=!sleep 2; touch ${marker}`, 'hang'];
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(new Error('client went away')), 200);
      const aborted = runGit({ args: hang, signal: controller.signal });
      await expect(aborted).rejects.toMatchObject({ code: 'GIT_ABORTED', cause: new Error('client went away') });
      await expect(runGit({ args: ['version'], signal: controller.signal })).rejects.toMatchObject({ code: 'GIT_ABORTED' });
      expect(await runGit({ args: hang, timeoutMs: 200 })).toMatchObject({ code: -1, signal: 'SIGKILL', timedOut: true });
      expect(Date.now() - started).toBeLessThan(1800);
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(existsSync(marker)).toBe(false);
    });
  });

  it('rejects with GIT_SPAWN_FAILED when git cannot start', async () => {
    await expect(runGit({ args: ['version'], cwd: '/nonexistent/pushgate-cwd' })).rejects.toMatchObject({ code: 'GIT_SPAWN_FAILED' });
  });
});

describe('spawnGit', () => {
  it('streams through git in the isolated environment, killable as a group', async () => {
    const hashed = spawnGit({ args: ['hash-object', '--stdin'] });
    const out: Buffer[] = [];
    hashed.stdout.on('data', (c: Buffer) => out.push(c));
    const done = new Promise((resolve) => hashed.on('close', resolve));
    hashed.stdin.write('x');
    hashed.stdin.end();
    expect(await done).toBe(0);
    expect(Buffer.concat(out).toString()).toBe(`${createHash('sha1').update('blob 1\0x').digest('hex')}\n`);

    // Waiting for the end of its input, it is still running when killed.
    const waiting = spawnGit({ args: ['hash-object', '--stdin'] });
    const closed = new Promise((resolve) => waiting.on('close', (_code, signal) => resolve(signal)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    killGitGroup(waiting);
    expect(await closed).toBe('SIGKILL');
    // Killing an exited process is a no-op.
    killGitGroup(waiting);
  });
});
