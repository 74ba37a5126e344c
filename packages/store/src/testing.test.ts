/** The PUSHGATE_TEST_PG switch of the test helper: CI must be able to insist on PostgreSQL. */
import { describe, expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import { testDatabases, testPgMode } from './testing';

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `postgres://postgres:hunter2-S3cret@127.0.0.1:${address.port}/postgres`;
}

describe('PUSHGATE_TEST_PG', () => {
  it.each([
    [undefined, 'auto'],
    ['', 'auto'],
    ['require', 'require'],
    ['skip', 'skip'],
  ] as const)('reads %p as %s', (value, mode) => {
    expect(testPgMode(value === undefined ? {} : { PUSHGATE_TEST_PG: value })).toBe(mode);
  });

  it('refuses values it does not know rather than guessing', () => {
    expect(() => testPgMode({ PUSHGATE_TEST_PG: 'yes' })).toThrow("PUSHGATE_TEST_PG must be 'require', 'skip' or unset, not 'yes'");
  });

  it('skip: only PGlite, without contacting PostgreSQL', async () => {
    const backends = await testDatabases({ PUSHGATE_TEST_PG: 'skip', PUSHGATE_TEST_PG_URL: 'postgres://nowhere.invalid/x' });
    expect(backends.map((b) => b.name)).toEqual(['pglite']);
  });

  it('require: fails when PostgreSQL is unreachable, without showing the password', async () => {
    const url = await closedPortUrl();
    const failure = testDatabases({ PUSHGATE_TEST_PG: 'require', PUSHGATE_TEST_PG_URL: url });
    await expect(failure).rejects.toThrow(/unreachable .*PUSHGATE_TEST_PG=require/);
    await expect(failure).rejects.toThrow(/postgres:\/\/postgres:\*\*\*@/);
    await failure.catch((e: unknown) => expect(String(e)).not.toContain('hunter2'));
  });

  it('unset: skips PostgreSQL with a visible warning when it is unreachable', async () => {
    const url = await closedPortUrl();
    const warnings: unknown[][] = [];
    const original = console.warn;
    console.warn = (...args: unknown[]) => void warnings.push(args);
    try {
      const backends = await testDatabases({ PUSHGATE_TEST_PG_URL: url });
      expect(backends.map((b) => b.name)).toEqual(['pglite']);
    } finally {
      console.warn = original;
    }
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]![0])).toContain('skipping the PostgreSQL cases');
    expect(String(warnings[0]![0])).not.toContain('hunter2');
  });
});
