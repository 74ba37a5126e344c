/**
 * `pushgate policy test` on the repository's own cases (so `npm test` judges them as CI does),
 * a wrong expectation reported as a failure, the JUnit report, and `pushgate policy explain`.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { FixtureRepos } from '@pushgate/fixture-repos';
import { runCli } from './commands';
import { runPolicyCases } from './policy-test';

const FIXTURES = fileURLToPath(new URL('../../../fixtures/', import.meta.url));
const CASES = join(FIXTURES, 'policy/cases.yaml');
const work = mkdtempSync(join(tmpdir(), 'policy-test-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  err.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const code = await runCli(args, { stdout: out, stderr: err, env: {}, stopSignal: () => new Promise(() => {}) });
  return { code, stdout, stderr };
}

describe('pushgate policy test', () => {
  it('passes every case of fixtures/policy/cases.yaml', async () => {
    const report = await runPolicyCases(CASES);
    const failures = report.results.filter((r) => !r.passed).map((r) => `${r.name}: ${r.problems.join('; ')}`);
    expect(failures).toEqual([]);
    expect(report.passed).toBeGreaterThanOrEqual(30);
    // Every fixture is built and every case inspected for real: minutes on a busy two-core machine.
  }, 600_000);

  it('reports a wrong expectation: FAIL, what differed, "0 passed, 1 failed", exit 1, and JUnit XML', async () => {
    const cases = join(work, 'wrong.yaml');
    await writeFile(
      cases,
      [
        `repos: ${join(FIXTURES, 'repos')}`,
        'cases:',
        '  - name: force-push expected to pass',
        `    policy: ${join(FIXTURES, 'policy/refs.yaml')}`,
        '    fixture: force-push',
        '    upstream: { refs: { refs/heads/main: v1 } }',
        '    push: [{ ref: refs/heads/main, new: v2 }]',
        '    force: true',
        '    identity: { sub: alice }',
        '    expect: { outcome: allow, rules: [] }',
        '',
      ].join('\n'),
    );
    const junit = join(work, 'junit.xml');
    const run = await cli(['policy', 'test', cases, '--junit', junit]);
    expect(run.code).toBe(1);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('FAIL force-push expected to pass — deny [no-force-main]');
    expect(run.stdout).toContain('outcome: expected allow, got deny');
    expect(run.stdout).toContain('rules: expected [], got [no-force-main]');
    expect(lines.at(-1)).toBe('0 passed, 1 failed');
    const xml = await readFile(junit, 'utf8');
    expect(xml).toContain('tests="1" failures="1"');
    expect(xml).toContain('<testcase classname=');
    expect(xml).toContain('<failure message="outcome: expected allow, got deny">');
  });

  it('reports a case that needs --force, or names a revision the fixture lacks, as failed', async () => {
    const cases = join(work, 'unforced.yaml');
    await writeFile(
      cases,
      [
        `repos: ${join(FIXTURES, 'repos')}`,
        'cases:',
        '  - name: rewrite without force',
        `    policy: ${join(FIXTURES, 'policy/precedence.yaml')}`,
        '    fixture: force-push',
        '    upstream: { refs: { refs/heads/topic: v1 } }',
        '    push: [{ ref: refs/heads/topic, new: v2 }]',
        '    identity: { sub: alice }',
        '    expect: { outcome: allow }',
        '  - name: a revision the fixture lacks',
        `    policy: ${join(FIXTURES, 'policy/precedence.yaml')}`,
        '    fixture: force-push',
        '    upstream: { refs: {} }',
        '    push: [{ ref: refs/heads/topic, new: no-such-commit }]',
        '    identity: { sub: alice }',
        '    expect: { outcome: allow }',
        '',
      ].join('\n'),
    );
    const report = await runPolicyCases(cases);
    expect(report.failed).toBe(2);
    expect(report.results[0].problems).toEqual(['refs/heads/topic is not a fast-forward: git push needs --force (set force: true)']);
    expect(report.results[1].problems).toEqual([expect.stringMatching(/^POLICY_TEST_BAD_REVISION: no-such-commit names no object in /)]);
  });
});

describe('pushgate policy explain', () => {
  it('shows the decision, every reason and what git would print', async () => {
    const repo = await new FixtureRepos(join(FIXTURES, 'repos'), join(work, 'repos')).get('secrets');
    const run = await cli([
      'policy', 'explain',
      '--config', join(FIXTURES, 'policy/content.yaml'),
      '--repo', repo.gitDir,
      '--ref', 'refs/heads/main',
      '--old', 'main',
      '--new', 'leak',
      '--as', 'dev',
      '--email', 'dev@example.com',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('decision: deny');
    expect(run.stdout).toMatch(/deny no-secrets \[refs\/heads\/main [0-9a-f]{7} logs\/capture\.log:20000\]: secret \(aws-access-key-id\) AKIA\*\*\*\*/);
    expect(run.stdout).toContain('ng refs/heads/main denied by policy rule no-secrets');
    expect(run.stdout).toContain('remote: Push denied by policy; nothing was pushed.');
  });

  it('has --help, listed in the top-level help', async () => {
    const top = await cli(['--help']);
    expect(top.stdout).toContain('policy test <cases.yaml> [--junit F]');
    expect(top.stdout).toContain('policy explain --config F --repo <dir>');
    for (const args of [['policy', '--help'], ['policy', 'test', '--help'], ['policy', 'explain', '--help']]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: pushgate policy test <cases\.yaml> \[--junit <file>\]\n/);
    }
    expect((await cli(['policy'])).code).toBe(2);
    expect((await cli(['policy', 'frobnicate'])).code).toBe(2);
  });

  it('is a usage error without --new', async () => {
    const run = await cli(['policy', 'explain', '--config', join(FIXTURES, 'policy/content.yaml'), '--repo', '.', '--ref', 'refs/heads/main']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--new is required');
    expect(run.stderr).toContain('pushgate policy --help');
  });
});
