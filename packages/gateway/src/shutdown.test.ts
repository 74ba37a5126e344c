/**
 * The drain deadline: a client too slow to finish within shutdown.drainTimeoutMs is cut, its
 * request is still recorded, and close() returns promptly rather than waiting for it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { join } from 'node:path';
import { listAuditEvents, openDatabase } from '@pushgate/store';
import { FLUSH, makeLargeRepo, pkt, type LargeRepo } from '@pushgate/testkit';
import { startHarness, type Harness } from './testing/harness';

describe('shutdown with a request that outlives the drain deadline', () => {
  let h: Harness;
  let big: LargeRepo;

  beforeAll(async () => {
    h = await startHarness({ config: { shutdown: { drainTimeoutMs: 500 } } });
    big = await makeLargeRepo(join(h.upstream.root, 'slow.git'), { megabytes: 24, commits: 2, seed: 'slow-client' });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('cuts the stalled client after the deadline, records it, and closes promptly', async () => {
    const token = await h.token();
    const gateway = h.inProcess!;
    let received = 0;
    const cut = new Promise<'cut' | 'complete'>((resolve, reject) => {
      const body = pkt(`want ${big.head}\n`, FLUSH, 'done\n');
      const req = http.request(`${h.gateway.url}/local/slow.git/git-upload-pack`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'x-request-id': 'stalled', 'content-type': 'application/x-git-upload-pack-request', 'content-length': body.length },
      });
      req.on('error', () => resolve('cut'));
      req.on('response', (res) => {
        res.once('data', (chunk: Buffer) => {
          received += chunk.length;
          // Stall: read nothing more.
          res.pause();
          void gateway.close().then(() => resolve(received >= big.packBytes ? 'complete' : 'cut'));
        });
        res.on('error', () => resolve('cut'));
        res.on('aborted', () => resolve('cut'));
      });
      req.end(body);
      setTimeout(() => reject(new Error('the gateway did not close')), 30_000).unref();
    });
    const started = performance.now();
    expect(await cut).toBe('cut');
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(h.gateway.logs.some((l) => l.includes('shutdown deadline reached'))).toBe(true);
    const line = h.gateway.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.requestId === 'stalled' && l.route === 'upload-pack');
    expect(line).toMatchObject({ outcome: 'aborted', status: 200 });
    // The gateway has closed its database; its record of the cut request is there.
    const db = await openDatabase({ dataDir: h.gateway.dataDir });
    try {
      const rows = await listAuditEvents(db, { requestId: 'stalled' });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ outcome: 'aborted', service: 'git-upload-pack', actorSub: 'alice' });
    } finally {
      await db.close();
    }
  });
});
