/**
 * The gateway as a real process: a clone of a repository of more than 50 MB streams through with
 * flat memory and a push of it is inspected in bounded memory (peak RSS from /proc/<pid>/status),
 * and SIGTERM lets an in-flight clone finish before the process exits 0.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { FLUSH, makeLargeRepo, pkt, type LargeRepo } from '@pushgate/testkit';
import { startHarness, type Harness } from './testing/harness';

const MB = 1024 * 1024;

async function memory(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

describe('the gateway process', () => {
  let h: Harness;
  let big: LargeRepo;
  let token: string;

  beforeAll(async () => {
    h = await startHarness({ mode: 'child', config: { log: { level: 'info' }, shutdown: { drainTimeoutMs: 60_000 } } });
    big = await makeLargeRepo(join(h.upstream.root, 'big.git'), { megabytes: 96, commits: 40, seed: 'gateway-rss' });
    token = await h.token();
  }, 180_000);
  afterAll(async () => {
    await h?.stop();
  });

  it('clones a repository of more than 50 MB with flat memory (peak RSS during the clone)', async () => {
    expect(big.packBytes).toBeGreaterThan(50 * MB);
    const pid = h.gateway.pid!;
    // Warm up (first request loads code paths), then take the baseline.
    expect((await h.git.git(['ls-remote', h.remote('big.git', token)])).code).toBe(0);
    // The embedded database's start-up peak would hide the clone's: reset the peak (proc(5), clear_refs "5").
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    const baseline = await memory(pid);
    const clone = await h.git.git(['clone', '--bare', h.remote('big.git', token), 'big-clone.git']);
    expect(clone.code).toBe(0);
    expect(await h.git.revParse(join(h.git.dir, 'big-clone.git'), 'main')).toBe(big.head);
    const after = await memory(pid);
    const growth = after.hwm - baseline.rss;
    // Streaming keeps buffers of tens of KB (plus what V8 lets pile up between collections, ~35 MB
    // measured); anything near the repository's size would mean buffering.
    expect(growth).toBeLessThan(big.packBytes / 2);
    expect(after.hwm).toBeGreaterThanOrEqual(baseline.rss);
  }, 180_000);

  it('inspects and relays a push of more than 50 MB in bounded memory', async () => {
    await h.upstream.createRepo('pushed.git');
    const pid = h.gateway.pid!;
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    const baseline = await memory(pid);
    const source = join(h.git.dir, 'big-clone.git');
    const pushed = await h.git.git(['push', h.remote('pushed.git', token), 'main:main'], { cwd: source });
    expect(pushed.code).toBe(0);
    const after = await memory(pid);
    // The push is spooled to disk and inspected object by object: memory grows by the objects being
    // worked on and bounded caches (~85 MB measured for this pack of ~2.4 MB blobs), never by the pack.
    expect(after.hwm - baseline.rss).toBeLessThan(Math.min(big.packBytes, 128 * MB));
    expect((await h.git.gitOk(['--git-dir', join(h.upstream.root, 'pushed.git'), 'rev-parse', 'main'])).stdout.trim()).toBe(big.head);
  }, 180_000);

  it('drains an in-flight clone on SIGTERM, then exits 0', async () => {
    const received = await new Promise<{ bytes: Buffer[]; total: number }>((resolve, reject) => {
      const body = pkt(`want ${big.head}\n`, FLUSH, 'done\n');
      const req = http.request(`${h.gateway.url}/local/big.git/git-upload-pack`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-git-upload-pack-request', 'content-length': body.length },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        expect(res.statusCode).toBe(200);
        const bytes: Buffer[] = [];
        let total = 0;
        let sinceBreak = 0;
        let signalled = false;
        res.on('data', (chunk: Buffer) => {
          bytes.push(chunk);
          total += chunk.length;
          sinceBreak += chunk.length;
          if (!signalled) {
            signalled = true;
            // Ask the gateway to stop while this answer has barely started.
            void h.gateway.stop();
          }
          // A slow client: the drain has to wait for it.
          if (sinceBreak > 4 * MB) {
            sinceBreak = 0;
            res.pause();
            setTimeout(() => res.resume(), 100);
          }
        });
        res.on('end', () => resolve({ bytes, total }));
        res.on('error', reject);
      });
      req.end(body);
    });
    const all = Buffer.concat(received.bytes);
    // v0 without side-band: "0008NAK\n", then the pack; its trailer is the SHA-1 of what precedes it.
    expect(all.subarray(0, 8).toString()).toBe('0008NAK\n');
    const pack = all.subarray(8);
    expect(pack.subarray(0, 4).toString()).toBe('PACK');
    expect(createHash('sha1').update(pack.subarray(0, pack.length - 20)).digest().equals(pack.subarray(pack.length - 20))).toBe(true);
    expect(pack.length).toBeGreaterThan(50 * MB);
    expect(await h.gateway.exited).toEqual({ code: 0, signal: null });
    expect(h.gateway.logs.some((l) => l.includes('shutting down: draining in-flight requests') && l.includes('"inFlight":1'))).toBe(true);
  }, 180_000);
});
