/**
 * Real bytes: pushes by the real git client (2.39) through a recording loopback server in front of
 * the real `git http-backend`, whose advertisements pass through filterAdvertisement as they
 * would through the gateway. Every captured request is decoded and must re-encode to the very
 * bytes git sent; every captured response is decoded and must re-encode to the very bytes
 * receive-pack sent.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_LIMITS, ZERO_OID, refUpdateKind, type Oid, type RefUpdate } from '@pushgate/core';
import { PktLineReader } from '@pushgate/pktline';
import { chunked } from '@pushgate/testkit';
import {
  Capabilities,
  decodeAdvertisement,
  decodeReceivePackRequest,
  decodeReportResponse,
  encodeAdvertisement,
  encodeReceivePackRequest,
  encodeReportResponse,
  expectsPack,
  filterAdvertisement,
  type ReceivePackRequest,
  type ReportResponse,
} from './index';
import { CaptureUpstream, type Exchange } from './testing/upstream';

let up: CaptureUpstream;
let work: string;
let upstream: string;

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function rev(name: string, cwd = work): Promise<Oid> {
  return (await up.git(['rev-parse', name], { cwd })).stdout.trim() as Oid;
}

async function commit(message: string, cwd = work): Promise<Oid> {
  await up.git(['commit', '-q', '--allow-empty', '-m', message], { cwd });
  return rev('HEAD', cwd);
}

/** Runs `git push` and returns the receive-pack POST it made, decoded and checked for a byte-exact round trip. */
async function push(args: readonly string[], options: { cwd?: string; mayFail?: boolean } = {}) {
  up.exchanges.length = 0;
  const result = await up.git(['push', ...args], { cwd: options.cwd ?? work, mayFail: options.mayFail });
  const posts = up.exchanges.filter((e) => e.method === 'POST' && e.path.endsWith('/git-receive-pack'));
  expect(posts).toHaveLength(1);
  const post = posts[0];
  const { request, consumed, rest } = await decodeRequest(post.requestBody);
  expect(encodeReceivePackRequest(request)).toEqual(post.requestBody.subarray(0, consumed));
  if (expectsPack(request)) expect(rest.subarray(0, 4).toString('latin1')).toBe('PACK');
  else expect(rest.length).toBe(0);
  const response = await decodeResponse(post, request);
  return { result, request, response, post };
}

async function decodeRequest(body: Buffer): Promise<{ request: ReceivePackRequest; consumed: number; rest: Buffer }> {
  const reader = new PktLineReader(chunked(body, 13));
  const request = await decodeReceivePackRequest(reader, DEFAULT_LIMITS);
  return { request, consumed: reader.bytesConsumed, rest: await collect(reader.remainder()) };
}

/** Decodes receive-pack's answer and checks that encodeReportResponse frames it byte for byte as git did. */
async function decodeResponse(exchange: Pick<Exchange, 'responseBody'>, request: Pick<ReceivePackRequest, 'capabilities'>): Promise<ReportResponse> {
  const response = await decodeReportResponse(chunked(exchange.responseBody, 9), { capabilities: request.capabilities });
  if (response.kind === 'report') {
    expect(encodeReportResponse(response.report, { capabilities: request.capabilities, progress: response.messages })).toEqual(exchange.responseBody);
  }
  return response;
}

const GIT_CAPS = ['report-status-v2', 'side-band-64k', 'quiet', 'object-format', 'agent'];

beforeAll(async () => {
  up = await CaptureUpstream.start({ filterAdvertisement: true });
  await up.git(['init', '-q', '--bare', '-b', 'main', 'srv/up.git']);
  for (const [key, value] of [
    ['receive.advertisePushOptions', 'true'],
    ['receive.certNonceSeed', 'a-seed'],
  ]) {
    await up.git(['-C', 'srv/up.git', 'config', key, value]);
  }
  await up.git(['init', '-q', '-b', 'main', 'w']);
  work = join(up.dir, 'w');
  upstream = join(up.root, 'up.git');
  await commit('one');
  await commit('two');
});

afterAll(async () => {
  await up?.close();
});

describe('requests and reports of the real git client and git http-backend', () => {
  it('creates a branch', async () => {
    const main = await rev('main');
    const { request, response } = await push([up.url('up.git'), 'main']);
    expect(request.commands).toEqual([{ ref: 'refs/heads/main', oldOid: ZERO_OID, newOid: main }]);
    expect(request.capabilities.entries.map((e) => e.name)).toEqual(GIT_CAPS);
    expect(request.capabilities.agent).toBe('git/2.39.5');
    expect(request.shallow).toEqual([]);
    expect(request.pushOptions).toEqual([]);
    expect(response).toEqual({ kind: 'report', report: { unpack: { ok: true }, refs: [{ ref: 'refs/heads/main', ok: true }] }, messages: [] });
  });

  it('updates a branch', async () => {
    const before = await rev('main');
    const after = await commit('three');
    const { request, response } = await push([up.url('up.git'), 'main']);
    expect(request.commands).toEqual([{ ref: 'refs/heads/main', oldOid: before, newOid: after }]);
    expect(response.kind === 'report' && response.report.refs).toEqual([{ ref: 'refs/heads/main', ok: true }]);
  });

  it('pushes a lightweight and an annotated tag together', async () => {
    await up.git(['tag', 'v1'], { cwd: work });
    await up.git(['tag', '-a', '-m', 'release 2', 'v2'], { cwd: work });
    const { request, response } = await push([up.url('up.git'), 'refs/tags/v1', 'refs/tags/v2']);
    expect(request.commands).toEqual([
      { ref: 'refs/tags/v1', oldOid: ZERO_OID, newOid: await rev('v1') },
      { ref: 'refs/tags/v2', oldOid: ZERO_OID, newOid: await rev('v2') },
    ]);
    expect(await rev('v2')).not.toBe(await rev('v1'));
    expect(response.kind === 'report' && response.report.refs.map((r) => r.ok)).toEqual([true, true]);
  });

  it('pushes several branches atomically', async () => {
    await up.git(['branch', 'a'], { cwd: work });
    await up.git(['branch', 'b'], { cwd: work });
    const { request, response } = await push(['--atomic', up.url('up.git'), 'a', 'b']);
    expect(request.capabilities.atomic).toBe(true);
    expect(request.commands.map((c) => c.ref)).toEqual(['refs/heads/a', 'refs/heads/b']);
    expect(response.kind === 'report' && response.report.refs.map((r) => r.ref)).toEqual(['refs/heads/a', 'refs/heads/b']);
  });

  it('sends push options, the empty one as an empty packet', async () => {
    const head = await commit('four');
    const { request, post } = await push(['-o', 'ci.skip', '-o', 'review=alice bob', '-o', '', up.url('up.git'), 'HEAD:refs/heads/options']);
    expect(request.capabilities.pushOptions).toBe(true);
    expect(request.pushOptions).toEqual(['ci.skip', 'review=alice bob', '']);
    expect(request.commands).toEqual([{ ref: 'refs/heads/options', oldOid: ZERO_OID, newOid: head }]);
    expect(post.requestBody.includes(Buffer.from('0000000bci.skip0014review=alice bob00040000PACK'))).toBe(true);
  });

  it('deletes a branch without sending a pack', async () => {
    const b = await rev('b');
    const { request, response, post } = await push([up.url('up.git'), ':refs/heads/b']);
    expect(request.commands).toEqual([{ ref: 'refs/heads/b', oldOid: b, newOid: ZERO_OID }]);
    expect(expectsPack(request)).toBe(false);
    expect(post.requestBody.subarray(-4).toString()).toBe('0000');
    expect(response.kind === 'report' && response.report.refs).toEqual([{ ref: 'refs/heads/b', ok: true }]);
  });

  it('sends a zero-to-zero command to delete a ref the server does not have, which decodes as a delete and round-trips', async () => {
    const { result, request, response, post } = await push([up.url('up.git'), ':refs/heads/never-existed']);
    expect(request.commands).toEqual([{ ref: 'refs/heads/never-existed', oldOid: ZERO_OID, newOid: ZERO_OID }]);
    expect(refUpdateKind(request.commands[0])).toBe('delete');
    expect(expectsPack(request)).toBe(false);
    // git's own receive-pack warns on band 2 and answers ok, and git reports the deletion.
    expect(post.responseBody.toString('latin1')).toContain('\x02warning: deleting a non-existent ref\n');
    expect(response.kind === 'report' && response.report.refs).toEqual([{ ref: 'refs/heads/never-existed', ok: true }]);
    expect(result.stderr).toContain('[deleted]');
  });

  it('sends shallow lines from a shallow clone', async () => {
    await up.git(['clone', '-q', '--depth', '1', up.url('up.git'), 'shallow']);
    const cwd = join(up.dir, 'shallow');
    const boundary = await rev('HEAD', cwd);
    const head = await commit('on a shallow clone', cwd);
    const { request, response, post } = await push([up.url('up.git'), 'HEAD:refs/heads/from-shallow'], { cwd });
    expect(request.shallow).toEqual([boundary]);
    expect(request.commands).toEqual([{ ref: 'refs/heads/from-shallow', oldOid: ZERO_OID, newOid: head }]);
    expect(post.requestBody.subarray(0, 53).toString()).toBe(`0035shallow ${boundary}\n`);
    expect(response.kind).toBe('report');
  });

  it('decodes ng lines and remote messages from a server that refuses a non-fast-forward', async () => {
    await up.git(['init', '-q', '--bare', '-b', 'main', 'srv/strict.git']);
    await up.git(['-C', 'srv/strict.git', 'config', 'receive.denyNonFastForwards', 'true']);
    await up.git(['push', '-q', up.url('strict.git'), 'main'], { cwd: work });
    const base = await rev('main~1');
    const { request, response, result } = await push(['--force', up.url('strict.git'), `${base}:refs/heads/main`], { mayFail: true });
    expect(result.code).not.toBe(0);
    expect(request.commands).toEqual([{ ref: 'refs/heads/main', oldOid: await rev('main'), newOid: base }]);
    expect(response).toEqual({
      kind: 'report',
      report: { unpack: { ok: true }, refs: [{ ref: 'refs/heads/main', ok: false, reason: 'non-fast-forward' }] },
      messages: ['error: denying non-fast-forward refs/heads/main (you should pull first)'],
    });
  });

  it('decodes a refusal by a pre-receive hook with its output', async () => {
    await up.git(['init', '-q', '--bare', '-b', 'main', 'srv/hooked.git']);
    const hook = join(up.root, 'hooked.git', 'hooks', 'pre-receive');
    await writeFile(hook, '#!/bin/sh\necho "policy: secrets found in config.yml"\nexit 1\n');
    await chmod(hook, 0o755);
    const { response, result } = await push([up.url('hooked.git'), 'main'], { mayFail: true });
    expect(result.stderr).toContain('remote: policy: secrets found in config.yml');
    expect(response).toEqual({
      kind: 'report',
      report: { unpack: { ok: true }, refs: [{ ref: 'refs/heads/main', ok: false, reason: 'pre-receive hook declined' }] },
      messages: ['policy: secrets found in config.yml'],
    });
  });

  it('decodes reports without side-band, in both report-status versions', async () => {
    const main = await rev('main');
    const empty = Buffer.concat([Buffer.from('PACK\0\0\0\x02\0\0\0\0', 'latin1')]);
    const emptyPack = Buffer.concat([empty, createHash('sha1').update(empty).digest()]);
    for (const list of ['report-status agent=pushgate-test', 'report-status-v2', 'report-status report-status-v2']) {
      const capabilities = Capabilities.parse(list);
      const ref = `refs/heads/direct-${list.length}`;
      const create: RefUpdate = { ref, oldOid: ZERO_OID, newOid: main };
      const request: ReceivePackRequest = { commands: [create], capabilities, shallow: [], pushOptions: [] };
      const created = await up.cgi('POST', '/up.git/git-receive-pack', '', Buffer.concat([encodeReceivePackRequest(request), emptyPack]));
      expect(created.status).toBe(200);
      expect(await decodeResponse({ responseBody: created.body }, request)).toEqual({ kind: 'report', report: { unpack: { ok: true }, refs: [{ ref, ok: true }] }, messages: [] });
      const del: ReceivePackRequest = { ...request, commands: [{ ref, oldOid: main, newOid: ZERO_OID }] };
      const deleted = await up.cgi('POST', '/up.git/git-receive-pack', '', encodeReceivePackRequest(del));
      expect(await decodeResponse({ responseBody: deleted.body }, del)).toEqual({ kind: 'report', report: { unpack: { ok: true }, refs: [{ ref, ok: true }] }, messages: [] });
    }
  });

  it('decodes an unpack failure', async () => {
    const capabilities = Capabilities.parse('report-status side-band-64k');
    const request: ReceivePackRequest = { commands: [{ ref: 'refs/heads/broken', oldOid: ZERO_OID, newOid: await rev('main') }], capabilities, shallow: [], pushOptions: [] };
    const answer = await up.cgi('POST', '/up.git/git-receive-pack', '', Buffer.concat([encodeReceivePackRequest(request), Buffer.from('PACK garbage')]));
    const response = await decodeResponse({ responseBody: answer.body }, request);
    expect(response.kind).toBe('report');
    if (response.kind !== 'report') return;
    expect(response.report.unpack.ok).toBe(false);
    expect(response.report.refs).toEqual([{ ref: 'refs/heads/broken', ok: false, reason: 'unpacker error' }]);
  });
});

describe('advertisements of git http-backend', () => {
  it('removes push-cert from the receive-pack advertisement, and git then pushes without a certificate', async () => {
    up.exchanges.length = 0;
    const head = await commit('five');
    const result = await up.git(['push', '--signed=if-asked', up.url('up.git'), 'HEAD:refs/heads/signed'], { cwd: work });
    expect(result.stderr).toContain('not sending a push certificate since the receiving end does not support --signed push');
    const get = up.exchanges.find((e) => e.service === 'git-receive-pack')!;
    expect(get.upstreamBody.toString('latin1')).toMatch(/ push-cert=\d+-[0-9a-f]+ /);
    expect(get.responseBody.toString('latin1')).not.toContain('push-cert');
    expect(get.responseBody.length).toBeLessThan(get.upstreamBody.length);
    const post = up.exchanges.find((e) => e.method === 'POST')!;
    expect((await decodeRequest(post.requestBody)).request.commands).toEqual([{ ref: 'refs/heads/signed', oldOid: ZERO_OID, newOid: head }]);
  });

  it('decodes and re-encodes every advertisement byte for byte', async () => {
    for (const [service, protocol] of [
      ['git-receive-pack', undefined],
      ['git-receive-pack', 'version=1'],
      ['git-receive-pack', 'version=2'],
      ['git-upload-pack', undefined],
      ['git-upload-pack', 'version=1'],
      ['git-upload-pack', 'version=2'],
    ] as const) {
      const { status, body } = await up.cgi('GET', '/up.git/info/refs', `service=${service}`, Buffer.alloc(0), protocol);
      expect(status).toBe(200);
      const adv = await decodeAdvertisement(chunked(body, 17), { service });
      expect(adv.version).toBe(protocol === 'version=2' && service === 'git-upload-pack' ? 2 : protocol === 'version=1' ? 1 : 0);
      expect(encodeAdvertisement(adv)).toEqual(body);
      if (adv.version !== 2) {
        expect(adv.refs.get('refs/heads/main')).toBe(await rev('main', upstream));
        expect(adv.refs.get('refs/tags/v2')).toBe(await rev('v2', upstream));
        if (service === 'git-upload-pack') expect(adv.peeled.get('refs/tags/v2')).toBe(await rev('v2^{}', upstream));
      }
      const filtered = await filterAdvertisement(chunked(body, 17), { service });
      const out = await collect(filtered.body);
      if (service === 'git-upload-pack') expect(out).toEqual(body);
      else expect(filtered.summary.removed).toEqual([expect.stringMatching(/^push-cert=/)]);
    }
  });

  it('clones and fetches with protocol v2 through the filter untouched', async () => {
    up.exchanges.length = 0;
    await up.git(['-c', 'protocol.version=2', 'clone', '-q', up.url('up.git'), 'clone-v2']);
    expect(await rev('HEAD', join(up.dir, 'clone-v2'))).toBe(await rev('main', upstream));
    const get = up.exchanges.find((e) => e.service === 'git-upload-pack')!;
    expect(get.gitProtocol).toBe('version=2');
    expect(get.responseBody).toEqual(get.upstreamBody);
    expect(get.responseBody.subarray(0, 14).toString()).toBe('000eversion 2\n');
  });

  it('refuses SHA-256 repositories for push and fetch, in every protocol version', async () => {
    await up.git(['init', '-q', '-b', 'main', '--object-format=sha256', 'w256']);
    await commit('sha-256', join(up.dir, 'w256'));
    await up.git(['clone', '-q', '--bare', 'w256', 'srv/sha256.git']);
    for (const [service, protocol] of [
      ['git-receive-pack', undefined],
      ['git-upload-pack', undefined],
      ['git-upload-pack', 'version=1'],
      ['git-upload-pack', 'version=2'],
    ] as const) {
      const { body } = await up.cgi('GET', '/sha256.git/info/refs', `service=${service}`, Buffer.alloc(0), protocol);
      await expect(filterAdvertisement(chunked(body, 17), { service })).rejects.toMatchObject({
        code: 'PROTO_UNSUPPORTED_OBJECT_FORMAT',
        message: 'SHA-256 repositories are not supported',
      });
    }
  });
});
