import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { PushgateError, ZERO_OID, type Oid } from '@pushgate/core';
import { FLUSH, chunked, pkt } from '@pushgate/testkit';
import { oidArb, refArb } from './arbitraries.testing';
import { Capabilities, decodeAdvertisement, encodeAdvertisement, filterAdvertisement, type Advertisement, type GitService } from './index';

const A = 'a'.repeat(40) as Oid;
const B = 'b'.repeat(40) as Oid;
const C = 'c'.repeat(40) as Oid;
const RP_CAPS = 'report-status report-status-v2 delete-refs side-band-64k quiet atomic ofs-delta push-cert=1795437553-eeca4eb5 push-options object-format=sha1 agent=git/2.39.5';
const UP_CAPS = 'multi_ack thin-pack side-band side-band-64k ofs-delta shallow deepen-since deepen-not deepen-relative no-progress include-tag multi_ack_detailed symref=HEAD:refs/heads/main object-format=sha1 agent=git/2.39.5';

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function filtered(bytes: Buffer, service: GitService, chunk = 11) {
  const { summary, body } = await filterAdvertisement(chunked(bytes, chunk), { service });
  return { summary, bytes: await collect(body) };
}

describe('decodeAdvertisement', () => {
  it('reads an empty repository advertised by receive-pack', async () => {
    const bytes = pkt('# service=git-receive-pack\n', FLUSH, `${ZERO_OID} capabilities^{}\0${RP_CAPS}\n`, FLUSH);
    const adv = await decodeAdvertisement(chunked(bytes, 5), { service: 'git-receive-pack' });
    expect(adv.version).toBe(0);
    expect(adv.service).toBe('git-receive-pack');
    if (adv.version === 2) throw new Error('v0 expected');
    expect(adv.refs.size).toBe(0);
    expect(adv.capabilities.toString()).toBe(RP_CAPS);
    expect(adv.capabilities.get('push-cert')).toBe('1795437553-eeca4eb5');
  });

  it('reads refs, peeled tags, .have lines and shallow lines in order', async () => {
    const bytes = pkt(
      '# service=git-upload-pack\n',
      FLUSH,
      'version 1\n',
      `${A} HEAD\0${UP_CAPS}\n`,
      `${A} refs/heads/main\n`,
      `${B} refs/tags/v1\n`,
      `${C} refs/tags/v1^{}\n`,
      `${C} .have\n`,
      `shallow ${B}\n`,
      FLUSH,
    );
    const adv = await decodeAdvertisement(chunked(bytes, 3), { service: 'git-upload-pack' });
    expect(adv).toEqual({
      version: 1,
      service: 'git-upload-pack',
      refs: new Map([
        ['HEAD', A],
        ['refs/heads/main', A],
        ['refs/tags/v1', B],
      ]),
      peeled: new Map([['refs/tags/v1', C]]),
      haves: [C],
      shallow: [B],
      capabilities: Capabilities.parse(UP_CAPS),
    });
    expect(encodeAdvertisement(adv)).toEqual(bytes);
  });

  it('reads a protocol v2 capability advertisement, with or without the service header', async () => {
    const v2 = pkt('version 2\n', 'agent=git/2.39.5\n', 'ls-refs=unborn\n', 'fetch=shallow wait-for-done\n', 'server-option\n', 'object-format=sha1\n', FLUSH);
    const adv = await decodeAdvertisement(chunked(v2, 4), { service: 'git-upload-pack' });
    expect(adv.version).toBe(2);
    expect(adv.service).toBeUndefined();
    expect(adv.capabilities.entries.map((e) => e.name)).toEqual(['agent', 'ls-refs', 'fetch', 'server-option', 'object-format']);
    expect(adv.capabilities.get('fetch')).toBe('shallow wait-for-done');
    expect(adv.capabilities.get('server-option')).toBe(true);
    expect(encodeAdvertisement(adv)).toEqual(v2);
    const withHeader = Buffer.concat([pkt('# service=git-upload-pack\n', FLUSH), v2]);
    expect(encodeAdvertisement(await decodeAdvertisement(chunked(withHeader, 4), { service: 'git-upload-pack' }))).toEqual(withHeader);
  });

  it.each<[string, Buffer, GitService, string]>([
    ['another service', pkt('# service=git-upload-pack\n', FLUSH, FLUSH), 'git-receive-pack', 'PROTO_BAD_ADVERTISEMENT'],
    ['no flush after the service line', pkt('# service=git-upload-pack\n', `${A} HEAD\0\n`, FLUSH), 'git-upload-pack', 'PROTO_BAD_ADVERTISEMENT'],
    ['a SHA-256 object format', pkt(`${ZERO_OID} capabilities^{}\0object-format=sha256\n`, FLUSH), 'git-receive-pack', 'PROTO_UNSUPPORTED_OBJECT_FORMAT'],
    ['SHA-256 ids', pkt(`${'a'.repeat(64)} HEAD\0agent=x\n`, FLUSH), 'git-upload-pack', 'PROTO_UNSUPPORTED_OBJECT_FORMAT'],
    ['a v2 SHA-256 repository', pkt('version 2\n', 'object-format=sha256\n', FLUSH), 'git-upload-pack', 'PROTO_UNSUPPORTED_OBJECT_FORMAT'],
    ['version 3', pkt('version 3\n', FLUSH), 'git-upload-pack', 'PROTO_UNSUPPORTED_VERSION'],
    ['a bad id', pkt(`${'z'.repeat(40)} HEAD\0\n`, FLUSH), 'git-upload-pack', 'PROTO_BAD_ADVERTISEMENT'],
    ['a ref line without a name', pkt(`${A} HEAD\0\n`, `${B}\n`, FLUSH), 'git-upload-pack', 'PROTO_BAD_ADVERTISEMENT'],
    ['bytes after the final flush', pkt(`${A} HEAD\0\n`, FLUSH, 'more'), 'git-upload-pack', 'PROTO_BAD_ADVERTISEMENT'],
    ['no final flush', pkt(`${A} HEAD\0\n`), 'git-upload-pack', 'PROTO_TRUNCATED'],
    ['an ERR packet', pkt('# service=git-upload-pack\n', FLUSH, 'ERR access denied\n'), 'git-upload-pack', 'PKT_ERR_PACKET'],
  ])('refuses %s', async (_name, bytes, service, code) => {
    await expect(decodeAdvertisement(chunked(bytes, 6), { service })).rejects.toMatchObject({ code });
  });

  const advArb: fc.Arbitrary<Advertisement> = fc.oneof(
    fc
      .record({
        version: fc.constantFrom<0 | 1>(0, 1),
        service: fc.constantFrom<GitService>('git-upload-pack', 'git-receive-pack'),
        refs: fc.uniqueArray(fc.tuple(refArb, oidArb), { selector: ([r]) => r, maxLength: 6 }),
        peel: fc.array(fc.boolean(), { maxLength: 6 }),
        peeledOid: oidArb,
        haves: fc.array(oidArb, { maxLength: 2 }),
        shallow: fc.array(oidArb, { maxLength: 2 }),
        caps: fc.subarray(['report-status', 'delete-refs', 'side-band-64k', 'agent=git/2.39.5', 'object-format=sha1', 'symref=HEAD:refs/heads/main'], { minLength: 1 }),
      })
      .map(
        (r): Advertisement => ({
          version: r.version,
          service: r.service,
          refs: new Map(r.refs),
          peeled: new Map(r.refs.filter((_, i) => r.peel[i]).map(([ref]) => [ref, r.peeledOid])),
          haves: r.haves,
          shallow: r.shallow,
          capabilities: Capabilities.parse(r.caps.join(' ')),
        }),
      ),
    fc
      .subarray(['agent=git/2.39.5', 'ls-refs=unborn', 'fetch=shallow wait-for-done', 'server-option', 'object-format=sha1'])
      .map((caps): Advertisement => ({ version: 2, capabilities: new Capabilities(caps.map((c) => ({ name: c.split('=')[0], value: c.includes('=') ? c.slice(c.indexOf('=') + 1) : true }))) })),
  );

  it('round-trips: decode(encode(x)) = x', async () => {
    await fc.assert(
      fc.asyncProperty(advArb, fc.integer({ min: 1, max: 50 }), async (adv, chunk) => {
        const service = adv.service ?? 'git-upload-pack';
        expect(await decodeAdvertisement(chunked(encodeAdvertisement(adv), chunk), { service })).toEqual(adv);
      }),
      { numRuns: 200 },
    );
  });
});

describe('filterAdvertisement', () => {
  const receivePack = (caps: string) => pkt('# service=git-receive-pack\n', FLUSH, `${A} refs/heads/main\0${caps}\n`, `${B} refs/heads/x\n`, FLUSH);

  it('removes push-cert and unknown capabilities from a receive-pack advertisement and keeps the rest byte for byte', async () => {
    const { summary, bytes } = await filtered(receivePack(`${RP_CAPS} future-thing object-format=sha256`), 'git-receive-pack');
    expect(summary.removed).toEqual(['push-cert=1795437553-eeca4eb5', 'future-thing', 'object-format=sha256']);
    expect(bytes).toEqual(
      receivePack('report-status report-status-v2 delete-refs side-band-64k quiet atomic ofs-delta push-options object-format=sha1 agent=git/2.39.5'),
    );
    expect(summary.capabilities.has('push-cert')).toBe(false);
    expect(summary.version).toBe(0);
  });

  it('passes an advertisement with nothing to remove through untouched', async () => {
    const clean = receivePack('report-status delete-refs side-band-64k agent=git/2.39.5');
    expect((await filtered(clean, 'git-receive-pack')).bytes).toEqual(clean);
    // Uppercase hex lengths stay as they were on the wire.
    const shouted = Buffer.from(clean.toString('latin1').replace(/^001f/, '001F'), 'latin1');
    expect((await filtered(shouted, 'git-receive-pack')).bytes).toEqual(shouted);
  });

  it('adds the capabilities the gateway serves itself to a receive-pack list that lacks them, and only there', async () => {
    const own = { ownPushCapabilities: ['push-options'] };
    const without = receivePack('report-status delete-refs side-band-64k agent=git/2.39.5');
    const added = await filterAdvertisement(chunked(without, 4), { service: 'git-receive-pack', ...own });
    expect(added.summary.added).toEqual(['push-options']);
    expect(added.summary.capabilities.pushOptions).toBe(true);
    expect(await collect(added.body)).toEqual(receivePack('report-status delete-refs side-band-64k agent=git/2.39.5 push-options'));
    // An empty repository's `capabilities^{}` line gets it too.
    const empty = pkt('# service=git-receive-pack\n', FLUSH, `${ZERO_OID} capabilities^{}\0report-status\n`, FLUSH);
    const emptyOut = await filterAdvertisement(chunked(empty, 4), { service: 'git-receive-pack', ...own });
    expect(await collect(emptyOut.body)).toEqual(pkt('# service=git-receive-pack\n', FLUSH, `${ZERO_OID} capabilities^{}\0report-status push-options\n`, FLUSH));
    // Already advertised: untouched, byte for byte.
    const withIt = receivePack('report-status push-options agent=git/2.39.5');
    const kept = await filterAdvertisement(chunked(withIt, 4), { service: 'git-receive-pack', ...own });
    expect(kept.summary.added).toEqual([]);
    expect(await collect(kept.body)).toEqual(withIt);
    // Fetches are never touched.
    const up = pkt('# service=git-upload-pack\n', FLUSH, `${A} HEAD\0${UP_CAPS}\n`, FLUSH);
    expect(await collect((await filterAdvertisement(chunked(up, 4), { service: 'git-upload-pack', ...own })).body)).toEqual(up);
  });

  it('passes upload-pack advertisements through untouched, v0, v1 and v2', async () => {
    const v0 = pkt('# service=git-upload-pack\n', FLUSH, `${A} HEAD\0${UP_CAPS}\n`, `${A} refs/heads/main\n`, FLUSH);
    const v1 = pkt('# service=git-upload-pack\n', FLUSH, 'version 1\n', `${A} HEAD\0${UP_CAPS} push-cert=x\n`, FLUSH);
    const v2 = pkt('version 2\n', 'agent=git/2.39.5\n', 'ls-refs=unborn\n', 'object-format=sha1\n', FLUSH);
    const empty = pkt('# service=git-upload-pack\n', FLUSH, FLUSH);
    for (const bytes of [v0, v1, v2, empty]) {
      const out = await filtered(bytes, 'git-upload-pack', 3);
      expect(out.bytes).toEqual(bytes);
      expect(out.summary.removed).toEqual([]);
    }
    expect((await filtered(v2, 'git-upload-pack')).summary.version).toBe(2);
    expect((await filtered(v1, 'git-upload-pack')).summary.capabilities.get('symref')).toBe('HEAD:refs/heads/main');
  });

  it.each<[string, Buffer, GitService, string]>([
    ['a SHA-256 receive-pack repository', pkt('# service=git-receive-pack\n', FLUSH, `${ZERO_OID} capabilities^{}\0report-status object-format=sha256\n`, FLUSH), 'git-receive-pack', 'PROTO_UNSUPPORTED_OBJECT_FORMAT'],
    ['a SHA-256 upload-pack repository', pkt('# service=git-upload-pack\n', FLUSH, `${'a'.repeat(64)} HEAD\0object-format=sha256\n`, FLUSH), 'git-upload-pack', 'PROTO_UNSUPPORTED_OBJECT_FORMAT'],
    ['SHA-256 ids without object-format', pkt(`${'a'.repeat(64)} HEAD\0agent=x\n`, FLUSH), 'git-upload-pack', 'PROTO_UNSUPPORTED_OBJECT_FORMAT'],
    ['a v2 SHA-256 repository', pkt('version 2\n', 'agent=git/2.39.5\n', 'object-format=sha256\n', FLUSH), 'git-upload-pack', 'PROTO_UNSUPPORTED_OBJECT_FORMAT'],
    ['protocol v2 for push', pkt('version 2\n', 'agent=git/2.39.5\n', FLUSH), 'git-receive-pack', 'PROTO_UNSUPPORTED_VERSION'],
    ['an ERR packet', pkt('# service=git-upload-pack\n', FLUSH, 'ERR repository not exported\n'), 'git-upload-pack', 'PKT_ERR_PACKET'],
    ['another service', pkt('# service=git-upload-pack\n', FLUSH, FLUSH), 'git-receive-pack', 'PROTO_BAD_ADVERTISEMENT'],
    ['a truncated header', Buffer.from('001f# service=git-rec'), 'git-receive-pack', 'PKT_TRUNCATED'],
  ])('refuses %s before producing a single byte', async (_name, bytes, service, code) => {
    await expect(filterAdvertisement(chunked(bytes, 7), { service })).rejects.toMatchObject({ code });
  });

  it('streams a large advertisement without reading it first, passing the source chunks through as they are', async () => {
    const head = pkt('# service=git-receive-pack\n', FLUSH, `${A} refs/heads/main\0${RP_CAPS}\n`);
    const refs = Array.from({ length: 2000 }, (_, i) => Buffer.concat(Array.from({ length: 25 }, (_, j) => pkt(`${B} refs/heads/b-${i}-${j}\n`))));
    let pulled = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for (const chunk of [head, ...refs, FLUSH]) {
        pulled++;
        yield chunk;
      }
    }
    const { summary, body } = await filterAdvertisement(source(), { service: 'git-receive-pack' });
    expect(pulled).toBe(1);
    expect(summary.removed).toEqual(['push-cert=1795437553-eeca4eb5']);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c);
    expect(chunks.slice(1, 1 + refs.length).every((c, i) => c === refs[i])).toBe(true);
    const out = Buffer.concat(chunks);
    expect(out.length).toBe(Buffer.concat([head, ...refs, FLUSH]).length - 'push-cert=1795437553-eeca4eb5 '.length);
  });

  it('never throws anything but PushgateError on random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.constantFrom<GitService>('git-upload-pack', 'git-receive-pack'), async (bytes, service) => {
        for (const attempt of [() => filtered(Buffer.from(bytes), service, 5), () => decodeAdvertisement(chunked(bytes, 5), { service })]) {
          try {
            await attempt();
          } catch (e) {
            expect(e).toBeInstanceOf(PushgateError);
          }
        }
      }),
      { numRuns: 400 },
    );
  });
});
