import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CgiResponseParser, MAX_CGI_HEAD_BYTES, cgiVariables, parseCgiHead, type CgiHead } from './cgi';

/** Feeds `chunks` through a parser; returns the head (or its error) and the body bytes. */
async function parse(chunks: Buffer[]): Promise<{ head: CgiHead | Error; body: Buffer }> {
  const parser = new CgiResponseParser();
  const body: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      body.push(chunk);
      done();
    },
  });
  await pipeline(Readable.from(chunks), parser, sink).catch(() => {});
  const head = await parser.head.catch((e: Error) => e);
  return { head, body: Buffer.concat(body) };
}

describe('CgiResponseParser', () => {
  it('splits header block and body wherever the chunks break (CRLF or LF)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.boolean(), fc.array(fc.nat(400), { maxLength: 6 }), async (body, crlf, cuts) => {
        const nl = crlf ? '\r\n' : '\n';
        const head = `Status: 404 Not Found${nl}Content-Type: text/plain${nl}Set-Cookie: a${nl}Set-Cookie: b${nl}${nl}`;
        const all = Buffer.concat([Buffer.from(head, 'latin1'), body]);
        const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...points].map((p, i, arr) => all.subarray(p, arr[i + 1] ?? all.length)).filter((c) => c.length > 0);
        const r = await parse(chunks);
        expect(r.head).toEqual({ status: 404, reason: 'Not Found', headers: [['Content-Type', 'text/plain'], ['Set-Cookie', 'a'], ['Set-Cookie', 'b']] });
        expect(r.body.equals(Buffer.from(body))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('defaults the status (200, or 302 with Location) and drops hop-by-hop fields', () => {
    expect(parseCgiHead(Buffer.from('Content-Type: a/b\r\nTransfer-Encoding: chunked'))).toEqual({ status: 200, reason: '', headers: [['Content-Type', 'a/b']] });
    expect(parseCgiHead(Buffer.from('Location: /x'))).toEqual({ status: 302, reason: '', headers: [['Location', '/x']] });
    expect(parseCgiHead(Buffer.alloc(0))).toEqual({ status: 200, reason: '', headers: [] });
  });

  it('rejects output that is not a CGI response', async () => {
    const partial = Buffer.from('Status: 200 OK\r\nContent-Type: x');
    const cases: Array<[string, Buffer[], RegExp]> = [
      ['no field name', [Buffer.from('garbage line\r\n\r\nbody')], /no field name/],
      ['bad status', [Buffer.from('Status: OK\r\n\r\n')], /is not "<3 digits> <reason>"/],
      ['ends early', [partial.subarray(0, 10), partial.subarray(10)], new RegExp(`ended after ${partial.length} bytes`)],
      ['empty output', [], /ended after 0 bytes/],
      ['head too large', [Buffer.from(`X-Big: ${'a'.repeat(MAX_CGI_HEAD_BYTES)}`)], /exceeds 65536 bytes/],
    ];
    for (const [name, chunks, message] of cases) {
      const r = await parse(chunks);
      expect([name, r.head]).toEqual([name, expect.objectContaining({ code: 'GIT_SERVER_CGI_BAD_RESPONSE', message: expect.stringMatching(message) })]);
      expect(r.body.length).toBe(0);
    }
  });
});

describe('cgiVariables', () => {
  it('sets the RFC 3875 variables, passes headers as HTTP_*, never the credential, and omits CONTENT_LENGTH for a body read to EOF', () => {
    const base = {
      method: 'POST',
      pathInfo: '/r.git/git-receive-pack',
      query: 'a=1',
      headers: { 'content-type': 'application/x-git-receive-pack-request', 'content-length': '10', authorization: 'Basic eDp5', 'git-protocol': 'version=2', 'x-two': ['a', 'b'] },
      remoteAddr: '127.0.0.1',
      serverPort: 1234,
    };
    const fixed = cgiVariables({ ...base, body: { kind: 'length', bytes: 10 }, remoteUser: 'svc' });
    expect(fixed).toMatchObject({
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: 'POST',
      PATH_INFO: '/r.git/git-receive-pack',
      QUERY_STRING: 'a=1',
      CONTENT_TYPE: 'application/x-git-receive-pack-request',
      CONTENT_LENGTH: '10',
      REMOTE_USER: 'svc',
      AUTH_TYPE: 'Basic',
      HTTP_GIT_PROTOCOL: 'version=2',
      HTTP_X_TWO: 'a, b',
    });
    expect(Object.keys(fixed).filter((k) => /AUTHORIZATION|HTTP_CONTENT_(TYPE|LENGTH)/.test(k))).toEqual([]);
    const eof = cgiVariables({ ...base, body: { kind: 'until-eof' } });
    expect(eof).not.toHaveProperty('CONTENT_LENGTH');
    expect(eof).not.toHaveProperty('REMOTE_USER');
  });
});
