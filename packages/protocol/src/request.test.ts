import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DEFAULT_LIMITS, LimitError, PushgateError, ZERO_OID, refUpdateKind, type Limits, type Oid } from '@pushgate/core';
import { PktLineReader } from '@pushgate/pktline';
import { FLUSH, chunked, pkt, receivePackBody, type ReceivePackBodySpec } from '@pushgate/testkit';
import { requestArb } from './arbitraries.testing';
import { Capabilities, decodeReceivePackRequest, encodeReceivePackRequest, expectsPack, type ReceivePackRequest } from './index';

const A = 'a'.repeat(40) as Oid;
const B = 'b'.repeat(40) as Oid;
const C = 'c'.repeat(40) as Oid;
const Z = ZERO_OID;
// A pack header with zero objects; its contents are not this package's business.
const PACK = Buffer.from('PACK\0\0\0\x02\0\0\0\0trailer-bytes-of-the-pack');
const GIT_CAPS = ['report-status-v2', 'side-band-64k', 'quiet', 'object-format=sha1', 'agent=git/2.39.5'];

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function decode(bytes: Buffer, chunk = 7, limits: Limits = DEFAULT_LIMITS): Promise<{ request: ReceivePackRequest; rest: Buffer; consumed: number }> {
  const reader = new PktLineReader(chunked(bytes, chunk));
  const request = await decodeReceivePackRequest(reader, limits);
  const consumed = reader.bytesConsumed;
  return { request, rest: await collect(reader.remainder()), consumed };
}

async function failure(bytes: Buffer, limits: Limits = DEFAULT_LIMITS): Promise<PushgateError> {
  try {
    await decode(bytes, 5, limits);
  } catch (e) {
    if (e instanceof PushgateError) return e;
    throw e;
  }
  throw new Error('decoding succeeded');
}

const body = (spec: Partial<ReceivePackBodySpec>): Buffer =>
  receivePackBody({ commands: [{ ref: 'refs/heads/main', oldOid: A, newOid: B }], caps: GIT_CAPS, pack: PACK, ...spec });

describe('decodeReceivePackRequest', () => {
  it('reads commands and capabilities and stops at the pack', async () => {
    const bytes = body({});
    const { request, rest, consumed } = await decode(bytes);
    expect(request.commands).toEqual([{ ref: 'refs/heads/main', oldOid: A, newOid: B }]);
    expect(request.capabilities.entries.map((e) => e.name)).toEqual(['report-status-v2', 'side-band-64k', 'quiet', 'object-format', 'agent']);
    expect(request.capabilities.agent).toBe('git/2.39.5');
    expect(request.capabilities.sideband).toBe('side-band-64k');
    expect(request.capabilities.reportFormat).toBe('v2');
    expect(request.shallow).toEqual([]);
    expect(request.pushOptions).toEqual([]);
    expect(rest).toEqual(PACK);
    expect(consumed).toBe(bytes.length - PACK.length);
    expect(expectsPack(request)).toBe(true);
  });

  it('reads several commands, shallow lines and push options', async () => {
    const { request, rest } = await decode(
      body({
        shallow: [C],
        commands: [
          { ref: 'refs/heads/main', oldOid: A, newOid: B },
          { ref: 'refs/tags/v1', oldOid: Z, newOid: C },
          { ref: 'refs/heads/old', oldOid: B, newOid: Z },
        ],
        caps: ['report-status', 'push-options', 'atomic', 'side-band'],
        pushOptions: ['ci.skip', '', 'agent-session=42 x'],
      }),
      1,
    );
    expect(request.shallow).toEqual([C]);
    expect(request.commands.map((c) => c.ref)).toEqual(['refs/heads/main', 'refs/tags/v1', 'refs/heads/old']);
    expect(request.pushOptions).toEqual(['ci.skip', '', 'agent-session=42 x']);
    expect(request.capabilities.atomic).toBe(true);
    expect(request.capabilities.sideband).toBe('side-band');
    expect(rest).toEqual(PACK);
  });

  it('accepts a trailing LF on any line, as git receive-pack does', async () => {
    const withLf = await decode(body({ lf: true, commands: [{ ref: 'refs/heads/a', oldOid: A, newOid: B }, { ref: 'refs/heads/b', oldOid: A, newOid: B }] }));
    expect(withLf.request.commands.map((c) => c.ref)).toEqual(['refs/heads/a', 'refs/heads/b']);
    expect(withLf.request.capabilities.agent).toBe('git/2.39.5');
    const options = await decode(body({ caps: ['push-options'], pushOptions: ['x\n'] }));
    expect(options.request.pushOptions).toEqual(['x']);
  });

  it('reads a first command without a capability list as no capabilities', async () => {
    const { request } = await decode(Buffer.concat([pkt(`${A} ${B} refs/heads/main`, FLUSH), PACK]));
    expect(request.capabilities.entries).toEqual([]);
    expect(request.capabilities.reportFormat).toBe('none');
  });

  it('expects nothing after a push that only deletes', async () => {
    const { request, rest } = await decode(body({ commands: [{ ref: 'refs/heads/gone', oldOid: A, newOid: Z }], pack: undefined }));
    expect(expectsPack(request)).toBe(false);
    expect(rest.length).toBe(0);
  });

  it('reads zero to zero as deleting a ref that does not exist, and frames it back as sent', async () => {
    // What `git push <remote> :refs/heads/never` sends when the remote has no such ref.
    const bytes = body({ commands: [{ ref: 'refs/heads/never', oldOid: Z, newOid: Z }], pack: undefined });
    const { request, rest, consumed } = await decode(bytes);
    expect(request.commands).toEqual([{ ref: 'refs/heads/never', oldOid: Z, newOid: Z }]);
    expect(refUpdateKind(request.commands[0])).toBe('delete');
    expect(expectsPack(request)).toBe(false);
    expect(rest.length).toBe(0);
    expect(encodeReceivePackRequest(request)).toEqual(bytes.subarray(0, consumed));
    // Beside a create it changes nothing about the pack the create needs.
    const mixed = await decode(body({ commands: [cmd('refs/heads/never', Z, Z), cmd('refs/heads/new', Z, B)] }));
    expect(expectsPack(mixed.request)).toBe(true);
    expect(mixed.rest).toEqual(PACK);
  });

  it('counts shallow lines against maxShallow, not maxCommands', async () => {
    const limits: Limits = { ...DEFAULT_LIMITS, maxCommands: 1, maxShallow: 3 };
    const { request } = await decode(body({ shallow: [A, B, C] }), 7, limits);
    expect(request.shallow).toEqual([A, B, C]);
    const e = await failure(body({ shallow: [A, B, C, A] }), limits);
    expect(e).toBeInstanceOf(LimitError);
    expect(e.code).toBe('LIMIT_SHALLOW');
    expect(e.data).toEqual({ limit: 'maxShallow', max: 3, actual: 4 });
    expect(e.message).toBe('shallow lines in one push: 4 exceeds the limit of 3');
  });

  const LIMITS: Limits = { ...DEFAULT_LIMITS, maxCommands: 2, maxPushOptions: 1, maxShallow: 2 };
  const cmd = (ref: string, oldOid: string = A, newOid: string = B) => ({ ref, oldOid, newOid });
  const raw = (...parts: (string | Buffer)[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));

  it.each<[string, Buffer, string]>([
    ['an empty body', Buffer.alloc(0), 'PROTO_NO_COMMANDS'],
    ['only a flush', pkt(FLUSH), 'PROTO_NO_COMMANDS'],
    ['only shallow lines and a flush', pkt(`shallow ${A}\n`, FLUSH), 'PROTO_NO_COMMANDS'],
    ['a command with two fields', pkt(`${A} ${B}\0 report-status`, FLUSH), 'PROTO_BAD_COMMAND'],
    ['a command with four fields', pkt(`${A} ${B} refs/heads/main extra\0`, FLUSH), 'PROTO_BAD_COMMAND'],
    ['an empty ref name', pkt(`${A} ${B} \0`, FLUSH), 'PROTO_BAD_COMMAND'],
    ['uppercase hex', body({ commands: [cmd('refs/heads/main', A.toUpperCase())] }), 'PROTO_BAD_COMMAND'],
    ['non-hex ids', body({ commands: [cmd('refs/heads/main', 'g'.repeat(40))] }), 'PROTO_BAD_COMMAND'],
    ['a short id', pkt(`${'a'.repeat(39)} ${B} refs/heads/main`, FLUSH), 'PROTO_BAD_COMMAND'],
    ['a SHA-256 id', pkt(`${'a'.repeat(64)} ${'b'.repeat(64)} refs/heads/main`, FLUSH), 'PROTO_BAD_COMMAND'],
    ['two spaces between fields', pkt(`${A}  ${B} refs/heads/main`, FLUSH), 'PROTO_BAD_COMMAND'],
    ['capabilities on the second command', pkt(`${A} ${B} refs/heads/a\0`, `${A} ${B} refs/heads/b\0 quiet`, FLUSH), 'PROTO_BAD_COMMAND'],
    ['a delim packet among commands', pkt(`${A} ${B} refs/heads/a\0`, Buffer.from('0001')), 'PROTO_BAD_COMMAND'],
    ['an empty packet as a command', raw(pkt(`${A} ${B} refs/heads/a\0`), '0004', FLUSH), 'PROTO_BAD_COMMAND'],
    ['a ref outside refs/', body({ commands: [cmd('HEAD')] }), 'PROTO_BAD_REF_NAME'],
    ['a one-level ref', body({ commands: [cmd('refs/main')] }), 'PROTO_BAD_REF_NAME'],
    ['a ref with ..', body({ commands: [cmd('refs/heads/a..b')] }), 'PROTO_BAD_REF_NAME'],
    ['a ref with a CR', body({ commands: [cmd('refs/heads/a\r')] }), 'PROTO_BAD_REF_NAME'],
    ['a ref that is not UTF-8', raw(pkt(Buffer.concat([Buffer.from(`${A} ${B} refs/heads/`), Buffer.from([0xff, 0xfe]), Buffer.from('\0')])), FLUSH), 'PROTO_BAD_REF_NAME'],
    ['the same ref twice', body({ commands: [cmd('refs/heads/a'), cmd('refs/heads/b'), cmd('refs/heads/a', B, C)] }), 'PROTO_DUPLICATE_REF'],
    ['more commands than the limit', body({ commands: [cmd('refs/heads/a'), cmd('refs/heads/b'), cmd('refs/heads/c')] }), 'LIMIT_COMMANDS'],
    ['more push options than the limit', body({ caps: ['push-options'], pushOptions: ['a', 'b'] }), 'LIMIT_PUSH_OPTIONS'],
    ['more shallow lines than the limit', body({ shallow: [A, B, C] }), 'LIMIT_SHALLOW'],
    ['push options without the capability', body({ caps: ['report-status'], pushOptions: ['a'] }), 'PROTO_UNEXPECTED_PUSH_OPTIONS'],
    ['push options without the capability on a delete', body({ caps: [], commands: [cmd('refs/heads/a', A, Z)], pushOptions: ['a'], pack: undefined }), 'PROTO_UNEXPECTED_PUSH_OPTIONS'],
    ['a pack after a delete-only push', body({ commands: [cmd('refs/heads/a', A, Z)] }), 'PROTO_UNEXPECTED_DATA'],
    ['a pack after a zero-to-zero delete', body({ commands: [cmd('refs/heads/a', Z, Z)] }), 'PROTO_UNEXPECTED_DATA'],
    ['a malformed shallow line', pkt(`shallow ${A.toUpperCase()}\n`, FLUSH), 'PROTO_BAD_SHALLOW'],
    ['a shallow line without an id', pkt('shallow \n', FLUSH), 'PROTO_BAD_SHALLOW'],
    ['a shallow line after a command', pkt(`${A} ${B} refs/heads/a\0`, `shallow ${A}\n`, FLUSH), 'PROTO_BAD_SHALLOW'],
    ['a body that ends before the flush', pkt(`${A} ${B} refs/heads/a\0`), 'PROTO_TRUNCATED'],
    ['a body that ends inside the push options', raw(pkt(`${A} ${B} refs/heads/a\0 push-options`, FLUSH, 'opt')), 'PROTO_TRUNCATED'],
    ['a body without the pack it needs', body({ pack: undefined }), 'PROTO_TRUNCATED'],
    ['a push certificate', pkt(`push-cert\0 report-status\n`, 'certificate version 0.1\n'), 'PROTO_PUSH_CERT_UNSUPPORTED'],
    ['a SHA-256 object format', body({ caps: ['object-format=sha256'] }), 'PROTO_UNSUPPORTED_OBJECT_FORMAT'],
    ['both side-band modes', body({ caps: ['side-band', 'side-band-64k'] }), 'PROTO_BAD_CAPABILITY'],
    ['agent without a value', body({ caps: ['agent'] }), 'PROTO_BAD_CAPABILITY'],
    ['a flag with a value', body({ caps: ['quiet=yes'] }), 'PROTO_BAD_CAPABILITY'],
    ['an uppercase capability', body({ caps: ['Quiet'] }), 'PROTO_BAD_CAPABILITY'],
    ['a capability value with a control character', body({ caps: ['agent=a\x01b'] }), 'PROTO_BAD_CAPABILITY'],
    ['a capability pushgate does not support', body({ caps: ['report-status', 'push-cert=123'] }), 'PROTO_UNSUPPORTED_CAPABILITY'],
    ['an ERR packet from the client', pkt('ERR giving up\n'), 'PKT_ERR_PACKET'],
    ['a bad pkt-line length', raw(`${'0003'}`), 'PKT_INVALID_LENGTH'],
    ['a pkt-line over the limit', raw('fff5'), 'LIMIT_PKT_LINE'],
  ])('refuses %s', async (_name, bytes, code) => {
    const e = await failure(bytes, LIMITS);
    expect(e.code).toBe(code);
    expect(e.delivery).toEqual({ kind: 'http', status: 400 });
  });

  it('refuses a push option that is not UTF-8 or not one line', async () => {
    const opts = (payload: Buffer) => Buffer.concat([pkt(`${A} ${B} refs/heads/a\0 push-options`, FLUSH, payload, FLUSH), PACK]);
    expect((await failure(opts(Buffer.from([0xc3, 0x28])))).code).toBe('PROTO_BAD_PUSH_OPTION');
    expect((await failure(opts(Buffer.from('a\nb')))).code).toBe('PROTO_BAD_PUSH_OPTION');
    expect((await failure(opts(Buffer.from('a\0b')))).code).toBe('PROTO_BAD_PUSH_OPTION');
  });

  it('says where and what in its errors', async () => {
    const e = await failure(body({ commands: [cmd('refs/heads/a'), cmd('refs/heads/a', B, C)] }));
    expect(e.message).toBe('ref refs/heads/a is updated twice in one push (second time at byte offset 172)');
    expect(e.data).toEqual({ offset: 172, line: 1, ref: 'refs/heads/a' });
    const bad = await failure(body({ commands: [cmd('refs/heads/x.lock')] }));
    expect(bad.message).toBe('funny refname "refs/heads/x.lock": it has a component ending with ".lock" ("x.lock")');
    const limit = await failure(body({ commands: [cmd('refs/heads/a'), cmd('refs/heads/b'), cmd('refs/heads/c')] }), LIMITS);
    expect(limit.data).toEqual({ limit: 'maxCommands', max: 2, actual: 3 });
  });

  it('keeps a leading byte-order mark in a push option', async () => {
    const { request } = await decode(body({ caps: ['push-options'], pushOptions: ['\ufeffx'] }));
    expect(request.pushOptions).toEqual(['\ufeffx']);
    expect(encodeReceivePackRequest(request)).toEqual(body({ caps: ['push-options'], pushOptions: ['\ufeffx'], pack: undefined }));
  });
});

describe('encodeReceivePackRequest', () => {
  it('frames requests the way git send-pack does', () => {
    const request: ReceivePackRequest = {
      commands: [
        { ref: 'refs/heads/main', oldOid: A, newOid: B },
        { ref: 'refs/tags/v1', oldOid: Z, newOid: C },
      ],
      capabilities: Capabilities.parse(' report-status-v2 side-band-64k push-options agent=git/2.39.5'),
      shallow: [C],
      pushOptions: ['ci.skip', ''],
    };
    expect(encodeReceivePackRequest(request)).toEqual(
      receivePackBody({
        shallow: [C],
        commands: request.commands,
        caps: ['report-status-v2', 'side-band-64k', 'push-options', 'agent=git/2.39.5'],
        pushOptions: ['ci.skip', ''],
      }),
    );
  });

  it('refuses what it could not frame faithfully', () => {
    const base: ReceivePackRequest = { commands: [{ ref: 'refs/heads/a', oldOid: A, newOid: B }], capabilities: new Capabilities(), shallow: [], pushOptions: [] };
    expect(() => encodeReceivePackRequest({ ...base, commands: [] })).toThrow(expect.objectContaining({ code: 'PROTO_NO_COMMANDS' }));
    expect(() => encodeReceivePackRequest({ ...base, pushOptions: ['x'] })).toThrow(expect.objectContaining({ code: 'PROTO_UNEXPECTED_PUSH_OPTIONS' }));
    expect(() => encodeReceivePackRequest({ ...base, commands: [{ ref: 'refs/heads/a b', oldOid: A, newOid: B }] })).toThrow(
      expect.objectContaining({ code: 'PROTO_BAD_REF_NAME' }),
    );
    expect(() => encodeReceivePackRequest({ ...base, commands: [{ ref: 'refs/heads/a', oldOid: 'A'.repeat(40) as Oid, newOid: B }] })).toThrow(
      expect.objectContaining({ code: 'PROTO_BAD_COMMAND' }),
    );
  });

  it('round-trips: decode(encode(x)) = x, however the bytes are chunked', async () => {
    await fc.assert(
      fc.asyncProperty(requestArb, fc.integer({ min: 1, max: 64 }), async (request, chunk) => {
        const bytes = Buffer.concat([encodeReceivePackRequest(request), expectsPack(request) ? PACK : Buffer.alloc(0)]);
        const decoded = await decode(bytes, chunk);
        expect(decoded.request).toEqual(request);
        expect(decoded.rest).toEqual(expectsPack(request) ? PACK : Buffer.alloc(0));
        expect(encodeReceivePackRequest(decoded.request)).toEqual(bytes.subarray(0, decoded.consumed));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws anything but PushgateError, on random bytes or on damaged requests', async () => {
    const damaged = fc
      .tuple(requestArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
      .map(([request, flips]) => {
        const bytes = Buffer.concat([encodeReceivePackRequest(request), PACK]);
        for (const [at, value] of flips) bytes[at % bytes.length] = value;
        return bytes;
      });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)), damaged), fc.integer({ min: 1, max: 32 }), async (bytes, chunk) => {
        try {
          await decode(bytes, chunk);
        } catch (e) {
          expect(e).toBeInstanceOf(PushgateError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
