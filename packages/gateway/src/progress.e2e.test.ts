/**
 * What a pusher sees on side-band 2 while a large push is inspected, end to end: the count goes
 * up while the pack is indexed, and a push refused partway through (here: corrupt zlib in the
 * pack's last entry) leaves the meter where indexing stopped — never "100% …, done." — followed
 * by the refusal. Nothing reaches the upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { deflateSync } from 'node:zlib';
import { ZERO_OID } from '@pushgate/core';
import { encodePack, type PackEntrySpec } from '@pushgate/pack';
import { Capabilities, decodeReportResponse } from '@pushgate/protocol';
import { receivePackBody } from '@pushgate/testkit';
import { postBody } from './hostile-http';
import { startHarness, type Harness } from './testing/harness';

/** Entries enough that indexing them takes several of the pack engine's 100 ms progress reports. */
const BLOBS = 150_000;

async function* bytesOf(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes;
}

describe('inspection progress on side-band 2', () => {
  let h: Harness;
  let token: string;

  beforeAll(async () => {
    h = await startHarness();
    await h.upstream.createRepo('big.git', { initialCommit: true });
    token = await h.token({ sub: 'progress' });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('counts up while indexing, and a push refused partway shows where it stopped, not "done"', async () => {
    const entries: PackEntrySpec[] = [];
    for (let i = 0; i < BLOBS; i++) entries.push({ kind: 'object', type: 'blob', data: `blob ${i}\n` });
    // The last entry's deflate stream is damaged after its header: its Adler-32 cannot match.
    const good = deflateSync(Buffer.from('the last blob\n'));
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 0xff;
    entries.push({ kind: 'object', type: 'blob', data: 'the last blob\n', zlib: bad });
    const pack = encodePack(entries);
    const body = receivePackBody({
      commands: [{ ref: 'refs/heads/big', oldOid: ZERO_OID, newOid: 'a'.repeat(40) }],
      caps: ['report-status', 'side-band-64k', 'agent=pushgate-progress-test/1'],
      pack,
    });
    const relayed = () => h.upstream.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/git-receive-pack')).length;
    const relayedBefore = relayed();

    const answer = await postBody(`${h.gateway.url}/local/big.git/git-receive-pack`, {
      authorization: `Bearer ${token}`,
      'content-type': 'application/x-git-receive-pack-request',
    }, body);
    expect(answer.status).toBe(200);
    const decoded = await decodeReportResponse(bytesOf(answer.body), { capabilities: Capabilities.parse('report-status side-band-64k') });
    if (decoded.kind !== 'report') throw new Error(`expected a report, got ${JSON.stringify(decoded)}`);
    expect(decoded.report.unpack).toEqual({ ok: false, error: expect.stringMatching(/^PACK_ZLIB_CORRUPT: /) });

    const total = BLOBS + 1;
    const indexing = decoded.messages
      .map((m) => /^pushgate: indexing objects: +(\d+)% \((\d+)\/(\d+)\)(, done\.)?$/.exec(m))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ pct: Number(m[1]), done: Number(m[2]), total: Number(m[3]), finished: m[4] !== undefined }));
    // Drawn as it went (the first report at once, then redraws), counting up, against the pack's count.
    expect(indexing.length).toBeGreaterThanOrEqual(1);
    for (const line of indexing) expect(line.total).toBe(total);
    const counts = indexing.map((l) => l.done);
    expect([...counts].sort((a, b) => a - b)).toEqual(counts);
    // The last line is where indexing stopped: short of the total, and not "done".
    expect(indexing.some((l) => l.finished)).toBe(false);
    expect(indexing.at(-1)!.done).toBeLessThan(total);
    expect(indexing.at(-1)!.pct).toBeLessThan(100);
    // The pack itself arrived whole, so that stage did finish; then the refusal.
    expect(decoded.messages).toEqual(expect.arrayContaining([expect.stringMatching(/^pushgate: receiving pack: [\d.]+ MiB, done\.$/)]));
    const refusedAt = decoded.messages.findIndex((m) => m.startsWith('pushgate: push refused: PACK_ZLIB_CORRUPT: '));
    const lastIndexing = decoded.messages.findLastIndex((m) => m.startsWith('pushgate: indexing objects:'));
    expect(refusedAt).toBeGreaterThan(lastIndexing);
    if (process.env.PUSHGATE_TEST_SHOW_PROGRESS) console.log(decoded.messages.join('\n'));
    expect(relayed()).toBe(relayedBefore);
  });
});
