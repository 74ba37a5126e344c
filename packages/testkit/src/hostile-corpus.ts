/**
 * The hostile-input corpus: bad `git-receive-pack` request bodies (gitprotocol-pack(5) "Reference
 * Update Request and Packfile Transfer", gitformat-pack(5)), each with what pushgate must answer.
 * It is the generator behind `fixtures/hostile/manifest.json`: `npx tsx fixtures/hostile/generate.ts`
 * rewrites the manifest and writes every body to `fixtures/hostile/bodies/<id>.bin`.
 *
 * Every body is built here from readable parts (pkt-lines, packs of hand-written objects, zlib
 * streams written by hand), so the bytes are identical on every machine and their SHA-256 in the
 * manifest can be checked. A few cases start from real pushes captured from the git client
 * (`fixtures/hostile/captured/`). Bodies expect the repository states of `HOSTILE_REPOSITORIES`
 * (deterministic: the testkit upstream makes its initial commit with a fixed signature and date)
 * and the gateway limits of `HOSTILE_GATEWAYS`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { DEFAULT_LIMITS, ZERO_OID, type Limits, type Oid } from '@pushgate/core';
import { encodeDelta, encodePack, type DeltaOp, type EncodePackOptions, type PackEntrySpec } from '@pushgate/pack';
import { INITIAL_COMMIT_SIGNATURE, INITIAL_COMMIT_TIME } from '@pushgate/git-server';
import { BUILDER_IDENT, TREE_MODE, commitObject, gitObjectId, identLine, rawHeaderObject, sortTreeEntries, tagObject, treeObject, type GitIdent, type GitObjectType, type RawTreeEntry } from './git-objects';
import { FLUSH, DELIM, RESPONSE_END, pkt, pktLine, receivePackBody, type TestCommand } from './pkt';
import { repeatZlib, storedGzip, storedZlib } from './zlib-builders';

/** A git object with its id. */
export interface BuiltObject {
  readonly type: GitObjectType;
  readonly data: Buffer;
  readonly oid: string;
}

/** An object of `type` with contents `data`, and its id. */
export function builtObject(type: GitObjectType, data: Uint8Array | string): BuiltObject {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  return { type, data: bytes, oid: gitObjectId(type, bytes) };
}

// ---------------------------------------------------------------------------------------------
// Repository states and gateway profiles

/** Who the git server's initial commits are by, and when (createRepo's fast-import). */
const UPSTREAM_IDENT: GitIdent = { ...INITIAL_COMMIT_SIGNATURE, time: INITIAL_COMMIT_TIME };

function initialCommit(files: Readonly<Record<string, string>>): { blobs: BuiltObject[]; tree: BuiltObject; commit: BuiltObject } {
  const blobs = Object.values(files).map((content) => builtObject('blob', content));
  const entries = Object.keys(files).map((name, i): RawTreeEntry => ({ mode: '100644', name, oid: blobs[i].oid }));
  const tree = builtObject('tree', treeObject(sortTreeEntries(entries)));
  const commit = builtObject('commit', commitObject({ tree: tree.oid, author: UPSTREAM_IDENT, committer: UPSTREAM_IDENT, message: 'Initial commit\n' }));
  return { blobs, tree, commit };
}

const ONE_COMMIT_FILES = { 'README.md': 'hello\n' };
const NEIGHBOUR_FILES = { 'NEIGHBOUR.md': 'only in the neighbouring repository\n' };
const BASE = initialCommit(ONE_COMMIT_FILES);
const NEIGHBOUR = initialCommit(NEIGHBOUR_FILES);
const README = BASE.blobs[0];

/** A repository state the corpus expects, made with the testkit upstream's `createRepo`. */
export interface HostileRepository {
  /** Path under the upstream (and under the gateway's `/local/`). */
  readonly path: string;
  readonly objectFormat: 'sha1' | 'sha256';
  /** `createRepo`'s `initialCommit` files; none for an empty repository. */
  readonly files?: Readonly<Record<string, string>>;
  /** The refs createRepo must produce (sha1 repositories; checked before the corpus runs). */
  readonly refs: Readonly<Record<string, string>>;
  readonly description: string;
}

/** Names of the repository states. */
export type HostileRepositoryName = 'one-commit' | 'neighbour' | 'sha256';

/** The repositories the corpus runs against. */
export const HOSTILE_REPOSITORIES: Readonly<Record<HostileRepositoryName, HostileRepository>> = Object.freeze({
  'one-commit': {
    path: 'hostile/one-commit.git',
    objectFormat: 'sha1',
    files: ONE_COMMIT_FILES,
    refs: { 'refs/heads/main': BASE.commit.oid },
    description: 'main at one commit with README.md ("hello\\n"); almost every case pushes here',
  },
  neighbour: {
    path: 'hostile/neighbour.git',
    objectFormat: 'sha1',
    files: NEIGHBOUR_FILES,
    refs: { 'refs/heads/main': NEIGHBOUR.commit.oid },
    description: 'another repository on the same upstream, never pushed to: its objects must not serve as bases for pushes elsewhere',
  },
  sha256: {
    path: 'hostile/sha256.git',
    objectFormat: 'sha256',
    files: ONE_COMMIT_FILES,
    refs: {},
    description: 'a SHA-256 repository, which pushgate does not support',
  },
});

/** Names of the gateway configurations. */
export type HostileGatewayName = 'strict' | 'standard';

/** A gateway configuration the corpus expects. */
export interface HostileGateway {
  readonly limits: Limits;
  readonly description: string;
}

const MIB = 1024 * 1024;

/** The gateways the corpus runs against: low limits to reach every limit cheaply, and git-sized ones for the real thing. */
export const HOSTILE_GATEWAYS: Readonly<Record<HostileGatewayName, HostileGateway>> = Object.freeze({
  strict: {
    limits: {
      ...DEFAULT_LIMITS,
      maxPackBytes: 2 * MIB,
      maxObjects: 64,
      maxObjectBytes: 512 * 1024,
      maxDeltaDepth: 8,
      maxCommands: 8,
      maxPushOptions: 4,
      maxCommitsInspected: 16,
      maxShallow: 8,
    },
    description: 'low limits, so each limit is reached with a small body',
  },
  standard: {
    // The defaults, but objects capped at 32 MiB so memory growth under bombs can be asserted.
    limits: { ...DEFAULT_LIMITS, maxObjectBytes: 32 * MIB },
    description: 'the default limits (delta depth 4095 as git), objects capped at 32 MiB; run in a child process whose memory is measured',
  },
});

// ---------------------------------------------------------------------------------------------
// Cases

/** How a case's refusal must reach the client. */
export type HostileExpectation =
  /** Before any git protocol output: this HTTP status and a text body `pushgate: <code>: …`. */
  | { readonly kind: 'http'; readonly status: number; readonly code: string }
  /**
   * HTTP 200 with a report-status: `unpack <code>: …` (or `unpack ok` when the pack was fine but a
   * ref was not), and per ref `ng <ref> <code>: …` ('refused') or `ng <ref> not applied: …`.
   * With side-band the report is on band 1 and `remote: pushgate: push refused: <code>` on band 2.
   */
  | {
      readonly kind: 'report';
      readonly code: string;
      readonly unpack: 'ok' | 'refused';
      readonly refs: Readonly<Record<string, 'refused' | 'not-applied'>>;
      readonly sideband: boolean;
    };

/** Kinds of cases, for the manifest's reader. */
export type HostileCategory =
  | 'pkt-line'
  | 'commands'
  | 'ref-names'
  | 'capabilities'
  | 'push-options'
  | 'body-encoding'
  | 'pack'
  | 'zlib'
  | 'delta'
  | 'limits'
  | 'trees'
  | 'commits'
  | 'tags'
  | 'connectivity'
  | 'repository'
  | 'captured';

/** One corpus entry: a request body and what it must get. */
export interface HostileCase {
  readonly id: string;
  readonly title: string;
  readonly category: HostileCategory;
  readonly repo: HostileRepositoryName;
  readonly gateway: HostileGatewayName;
  /** The request's Content-Encoding, when not identity. */
  readonly contentEncoding?: string;
  readonly expect: HostileExpectation;
  /** The audit record's outcome when not `client-error` (a refusal caused by what the upstream holds). */
  readonly outcome?: 'upstream-error';
  readonly body: Buffer;
}

const MAIN = 'refs/heads/main';
const AGENT = 'agent=pushgate-hostile/1';
/** What git 2.39 sends with progress shown: the report inside side-band, progress on band 2. */
const SIDEBAND: readonly string[] = ['report-status', 'side-band-64k', 'ofs-delta', 'object-format=sha1', AGENT];
/** What a client without side-band sends: a bare report. */
const PLAIN: readonly string[] = ['report-status', 'ofs-delta', 'object-format=sha1', AGENT];
/** git with --quiet: side-band framing, report-status-v2, no progress. */
const QUIET: readonly string[] = ['report-status-v2', 'side-band-64k', 'quiet', 'ofs-delta', 'object-format=sha1', AGENT];

const oid = (hex: string): Oid => hex as Oid;
/** A made-up id no repository has (a recognisable pattern, not a real hash). */
const nowhere = (n: number): string => `${n.toString(16).padStart(2, '0')}dead0000000000000000000000000000000000`.slice(0, 40);

/** A pack of whole objects in the given order, in stored zlib blocks (byte-identical everywhere). */
function packOf(objects: readonly BuiltObject[], opts: EncodePackOptions = {}): Buffer {
  return encodePack(
    objects.map((o): PackEntrySpec => ({ kind: 'object', type: o.type, data: o.data, zlib: storedZlib(o.data) })),
    opts,
  );
}

/** Entries with stored zlib data unless an entry brings its own (deterministic packs with deltas and tweaks). */
function packEntries(entries: readonly PackEntrySpec[], opts: EncodePackOptions = {}): Buffer {
  return encodePack(
    entries.map((e): PackEntrySpec => {
      if (e.kind === 'raw' || e.zlib !== undefined) return e;
      if (e.kind === 'object') return { ...e, zlib: storedZlib(typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data) };
      return { ...e, zlib: storedZlib(e.delta) };
    }),
    opts,
  );
}

const whole = (o: BuiltObject): PackEntrySpec => ({ kind: 'object', type: o.type, data: o.data });

/** A commit on top of the upstream's main with `tree`. */
function childOfMain(tree: BuiltObject, message = 'hostile\n'): BuiltObject {
  return builtObject('commit', commitObject({ tree: tree.oid, parents: [BASE.commit.oid], message }));
}

/** A tree of the given entries (sorted, well-formed). */
function tree(entries: readonly RawTreeEntry[]): BuiltObject {
  return builtObject('tree', treeObject(sortTreeEntries(entries)));
}

/** The body of a push of `objects` updating main to `tip` (or another ref), with `caps`. */
function pushBody(tip: string, pack: Buffer, opts: { ref?: string; old?: string; caps?: readonly string[] } = {}): Buffer {
  const ref = opts.ref ?? MAIN;
  const old = opts.old ?? (ref === MAIN ? BASE.commit.oid : ZERO_OID);
  return receivePackBody({ commands: [{ ref, oldOid: old, newOid: tip }], caps: [...(opts.caps ?? SIDEBAND)], pack });
}

/** A valid push to main: a new file and a commit on top (the raw material of many cases). */
const GOOD_BLOB = builtObject('blob', 'pushed through pushgate\n');
const GOOD_TREE = tree([
  { mode: '100644', name: 'README.md', oid: README.oid },
  { mode: '100644', name: 'pushed.txt', oid: GOOD_BLOB.oid },
]);
const GOOD_COMMIT = childOfMain(GOOD_TREE, 'a good commit\n');
const GOOD_OBJECTS = [GOOD_COMMIT, GOOD_TREE, GOOD_BLOB];
const goodPack = (opts: EncodePackOptions = {}) => packOf(GOOD_OBJECTS, opts);

/** Every ref of `commands` refused with the code (an unpack failure). */
function unpackRefused(code: string, refs: readonly string[], sideband: boolean): HostileExpectation {
  return { kind: 'report', code, unpack: 'refused', refs: Object.fromEntries(refs.map((r) => [r, 'refused' as const])), sideband };
}
const http400 = (code: string): HostileExpectation => ({ kind: 'http', status: 400, code });

/** Replaces `count` bytes at `at` of a copy of `buf`. */
function patched(buf: Buffer, at: number, bytes: readonly number[]): Buffer {
  const out = Buffer.from(buf);
  bytes.forEach((b, i) => (out[at + i] = b));
  return out;
}

/** Recomputes a pack's trailer after it was patched, so only the patched fault remains. */
function retrailed(pack: Buffer): Buffer {
  const body = pack.subarray(0, pack.length - 20);
  return Buffer.concat([body, createHash('sha1').update(body).digest()]);
}

/** The offset of the first entry's zlib data in a pack of whole objects (12-byte header, then the entry header). */
function firstEntryDataOffset(pack: Buffer): number {
  let p = 12;
  while (pack[p] & 0x80) p++;
  return p + 1;
}

/** A chain of `depth` OFS deltas on a small blob, each adding one byte: the deepest is at `depth`. Entry indices start at 0: put the chain first in a pack. */
export function deltaChainEntries(depth: number, seed = 'chain'): { entries: PackEntrySpec[]; base: BuiltObject; last: BuiltObject } {
  let content = Buffer.from(`${seed} base\n`);
  const base = builtObject('blob', content);
  const entries: PackEntrySpec[] = [whole(base)];
  for (let d = 1; d <= depth; d++) {
    const next = Buffer.concat([content, Buffer.from([0x61 + (d % 26)])]);
    const ops: DeltaOp[] = [{ op: 'copy', offset: 0, size: content.length }, { op: 'insert', data: next.subarray(content.length) }];
    entries.push({ kind: 'ofs-delta', base: d - 1, delta: encodeDelta(content.length, next.length, ops) });
    content = next;
  }
  return { entries, base, last: builtObject('blob', content) };
}

/**
 * A push creating `ref` at a commit whose tree holds the deepest blob of a `depth`-long OFS delta
 * chain: valid when depth is within maxDeltaDepth (git's receive-pack accepts it), refused beyond.
 */
export function deltaChainPush(depth: number, ref: string, caps: readonly string[] = SIDEBAND): { body: Buffer; commit: string } {
  const chain = deltaChainEntries(depth);
  const t = tree([{ mode: '100644', name: 'deep.txt', oid: chain.last.oid }]);
  const commit = childOfMain(t, `a ${depth}-deep delta chain\n`);
  // The chain first: its OFS deltas name their bases by index in this list.
  const pack = packEntries([...chain.entries, whole(commit), whole(t)]);
  return { body: pushBody(commit.oid, pack, { ref, caps }), commit: commit.oid };
}

function pktCases(): HostileCase[] {
  const good = pushBody(GOOD_COMMIT.oid, goodPack());
  const command = `${BASE.commit.oid} ${GOOD_COMMIT.oid} ${MAIN}\0 ${SIDEBAND.join(' ')}`;
  const base = { category: 'pkt-line' as const, repo: 'one-commit' as const, gateway: 'strict' as const };
  return [
    { ...base, id: 'pkt-truncated-in-header', title: 'the body ends inside the first pkt-line length header', body: Buffer.from('00'), expect: http400('PKT_TRUNCATED') },
    { ...base, id: 'pkt-truncated-in-payload', title: 'the body ends inside the first command pkt-line', body: good.subarray(0, 60), expect: http400('PKT_TRUNCATED') },
    { ...base, id: 'pkt-length-not-hex', title: 'a pkt-line length that is not four hex digits', body: Buffer.concat([Buffer.from('00g0'), Buffer.from(command)]), expect: http400('PKT_INVALID_LENGTH') },
    { ...base, id: 'pkt-length-0003', title: 'the reserved pkt-line length 0003 (shorter than its own header)', body: Buffer.from('0003abc'), expect: http400('PKT_INVALID_LENGTH') },
    { ...base, id: 'pkt-length-negative', title: 'a pkt-line length written as a negative number', body: Buffer.from('-001abc'), expect: http400('PKT_INVALID_LENGTH') },
    { ...base, id: 'pkt-length-overstated', title: 'a length header larger than the rest of the body', body: Buffer.concat([Buffer.from('0fff'), Buffer.from(command)]), expect: http400('PKT_TRUNCATED') },
    { ...base, id: 'pkt-length-understated', title: 'a length header that cuts the command line short (the rest is read as the next packet)', body: Buffer.concat([Buffer.from('002c'), Buffer.from(command)]), expect: http400('PROTO_BAD_COMMAND') },
    { ...base, id: 'pkt-delim-first', title: 'a delim-pkt (0001) where the first command belongs', body: Buffer.concat([Buffer.from(DELIM), good]), expect: http400('PROTO_BAD_COMMAND') },
    { ...base, id: 'pkt-response-end-first', title: 'a response-end-pkt (0002) where the first command belongs', body: Buffer.concat([Buffer.from(RESPONSE_END), good]), expect: http400('PROTO_BAD_COMMAND') },
    { ...base, id: 'pkt-oversize-header', title: 'a pkt-line length of 65521, one past the protocol maximum', body: Buffer.concat([Buffer.from('fff1'), Buffer.alloc(65517, 0x61)]), expect: http400('LIMIT_PKT_LINE') },
    { ...base, id: 'pkt-oversize-ffff', title: 'a 65535-byte pkt-line carrying an enormous ref name', body: Buffer.concat([Buffer.from('ffff'), Buffer.from(`${ZERO_OID} ${GOOD_COMMIT.oid} refs/heads/`), Buffer.alloc(65531 - 93, 0x61)]), expect: http400('LIMIT_PKT_LINE') },
    { ...base, id: 'pkt-err-packet', title: 'an ERR packet where a command belongs: the client gave up', body: pkt('ERR the client gave up\n'), expect: http400('PKT_ERR_PACKET') },
  ];
}

function commandCases(): HostileCase[] {
  const base = { category: 'commands' as const, repo: 'one-commit' as const, gateway: 'strict' as const };
  const cmd = (ref: string, oldOid: string, newOid: string): TestCommand => ({ ref, oldOid, newOid });
  const body = (commands: TestCommand[], pack?: Buffer, caps: readonly string[] = SIDEBAND) => receivePackBody({ commands, caps: [...caps], pack });
  const updateMain = cmd(MAIN, BASE.commit.oid, GOOD_COMMIT.oid);
  return [
    {
      ...base,
      id: 'commands-unterminated',
      title: 'commands with no flush-pkt after them: the body ends inside the command list',
      body: pktLine(`${BASE.commit.oid} ${GOOD_COMMIT.oid} ${MAIN}\0 ${SIDEBAND.join(' ')}`),
      expect: http400('PROTO_TRUNCATED'),
    },
    { ...base, id: 'commands-without-pack', title: 'an update with nothing after the flush: the pack is missing', body: body([updateMain]), expect: http400('PROTO_TRUNCATED') },
    {
      ...base,
      id: 'pack-after-delete-only',
      title: 'a delete-only push followed by pack bytes (a delete carries no pack)',
      body: body([cmd(MAIN, BASE.commit.oid, ZERO_OID)], goodPack()),
      expect: http400('PROTO_UNEXPECTED_DATA'),
    },
    { ...base, id: 'command-uppercase-id', title: 'an object id in upper case', body: body([cmd(MAIN, BASE.commit.oid.toUpperCase(), GOOD_COMMIT.oid)], goodPack()), expect: http400('PROTO_BAD_COMMAND') },
    { ...base, id: 'command-short-id', title: 'a 39-digit object id', body: body([cmd(MAIN, BASE.commit.oid.slice(1), GOOD_COMMIT.oid)], goodPack()), expect: http400('PROTO_BAD_COMMAND') },
    {
      ...base,
      id: 'command-extra-field',
      title: 'a command with a fourth field',
      body: body([cmd(`${MAIN} extra`, BASE.commit.oid, GOOD_COMMIT.oid)], goodPack()),
      expect: http400('PROTO_BAD_COMMAND'),
    },
    {
      ...base,
      id: 'capabilities-on-second-command',
      title: 'a second command that carries a capability list too',
      body: Buffer.concat([
        pktLine(`${BASE.commit.oid} ${GOOD_COMMIT.oid} ${MAIN}\0 report-status`),
        pktLine(`${ZERO_OID} ${GOOD_COMMIT.oid} refs/heads/other\0 report-status`),
        Buffer.from(FLUSH),
        goodPack(),
      ]),
      expect: http400('PROTO_BAD_COMMAND'),
    },
    { ...base, id: 'duplicate-ref', title: 'the same ref updated twice in one push', body: body([updateMain, updateMain], goodPack()), expect: http400('PROTO_DUPLICATE_REF') },
    {
      ...base,
      id: 'duplicate-ref-update-and-delete',
      title: 'one ref both updated and deleted in one push',
      body: body([updateMain, cmd(MAIN, BASE.commit.oid, ZERO_OID)], goodPack()),
      expect: http400('PROTO_DUPLICATE_REF'),
    },
    {
      ...base,
      id: 'shallow-after-command',
      title: 'a shallow line after the first command',
      body: Buffer.concat([pktLine(`${BASE.commit.oid} ${GOOD_COMMIT.oid} ${MAIN}\0 report-status`), pktLine(`shallow ${BASE.commit.oid}`), Buffer.from(FLUSH), goodPack()]),
      expect: http400('PROTO_BAD_SHALLOW'),
    },
    {
      ...base,
      id: 'shallow-bad-id',
      title: 'a shallow line naming something that is not an object id',
      body: receivePackBody({ shallow: ['not-an-object-id'], commands: [updateMain], caps: [...SIDEBAND], pack: goodPack() }),
      expect: http400('PROTO_BAD_SHALLOW'),
    },
    {
      ...base,
      id: 'push-cert',
      title: 'a signed push (push-cert), which pushgate cannot relay',
      body: Buffer.concat([pktLine('push-cert\0 report-status'), pktLine('certificate version 0.1\n'), Buffer.from(FLUSH)]),
      expect: http400('PROTO_PUSH_CERT_UNSUPPORTED'),
    },
    {
      ...base,
      category: 'limits',
      id: 'too-many-commands',
      title: 'nine ref updates, one more than maxCommands (8)',
      body: body(Array.from({ length: 9 }, (_, i) => cmd(`refs/heads/many-${i}`, ZERO_OID, GOOD_COMMIT.oid)), goodPack()),
      expect: http400('LIMIT_COMMANDS'),
    },
    {
      ...base,
      category: 'limits',
      id: 'too-many-shallow-lines',
      title: 'nine shallow lines, one more than maxShallow (8)',
      body: receivePackBody({ shallow: Array.from({ length: 9 }, (_, i) => nowhere(i)), commands: [updateMain], caps: [...SIDEBAND], pack: goodPack() }),
      expect: http400('LIMIT_SHALLOW'),
    },
  ];
}

function refNameCases(): HostileCase[] {
  const names: [string, string | Buffer, string][] = [
    ['refname-dotdot', 'refs/heads/a..b', 'contains ".."'],
    ['refname-lock', 'refs/heads/topic.lock', 'a component ends with ".lock"'],
    ['refname-leading-dot', 'refs/heads/.hidden', 'a component starts with "."'],
    ['refname-trailing-dot', 'refs/heads/topic.', 'ends with "."'],
    ['refname-double-slash', 'refs/heads//topic', 'contains "//"'],
    ['refname-trailing-slash', 'refs/heads/topic/', 'ends with "/"'],
    ['refname-at-brace', 'refs/heads/a@{1}', 'contains "@{"'],
    ['refname-tilde', 'refs/heads/a~1', 'contains "~"'],
    ['refname-caret', 'refs/heads/a^2', 'contains "^"'],
    ['refname-colon', 'refs/heads/a:b', 'contains ":"'],
    ['refname-glob', 'refs/heads/*', 'contains "*"'],
    ['refname-question', 'refs/heads/what?', 'contains "?"'],
    ['refname-bracket', 'refs/heads/[x]', 'contains "["'],
    ['refname-backslash', 'refs/heads/a\\b', 'contains "\\"'],
    ['refname-control', 'refs/heads/a\u0001b', 'contains a control character'],
    ['refname-del', 'refs/heads/a\u007fb', 'contains DEL'],
    ['refname-head', 'HEAD', 'is not under refs/'],
    ['refname-one-level', 'refs/main', 'has one component after refs/'],
    ['refname-not-utf8', Buffer.from([...Buffer.from('refs/heads/caf'), 0xe9]), 'is not valid UTF-8'],
    ['refname-component-too-long', `refs/heads/${'c'.repeat(256)}`, 'has a component longer than a file name can be (255 bytes)'],
    ['refname-too-long', `refs/heads/${Array.from({ length: 17 }, () => 'd'.repeat(250)).join('/')}`, 'is longer than a ref file path can be (4096 bytes)'],
    ['refname-65000-bytes', `refs/heads/${'e'.repeat(65_000)}`, 'fills a whole pkt-line (65,000 bytes; ten thousand of them would be 650 MB)'],
  ];
  return names.map(([id, ref, why]) => {
    const line = Buffer.concat([Buffer.from(`${ZERO_OID} ${GOOD_COMMIT.oid} `), typeof ref === 'string' ? Buffer.from(ref, 'utf8') : ref, Buffer.from(`\0 ${SIDEBAND.join(' ')}`)]);
    return {
      id,
      title: `a ref name git refuses: it ${why}`,
      category: 'ref-names' as const,
      repo: 'one-commit' as const,
      gateway: 'strict' as const,
      body: Buffer.concat([pktLine(line), Buffer.from(FLUSH), goodPack()]),
      expect: http400('PROTO_BAD_REF_NAME'),
    };
  });
}

function capabilityCases(): HostileCase[] {
  const base = { category: 'capabilities' as const, repo: 'one-commit' as const, gateway: 'strict' as const };
  const withCaps = (caps: readonly string[] | string) =>
    receivePackBody({ commands: [{ ref: MAIN, oldOid: BASE.commit.oid, newOid: GOOD_COMMIT.oid }], caps: typeof caps === 'string' ? caps : [...caps], pack: goodPack() });
  return [
    { ...base, id: 'capability-unknown', title: 'a capability pushgate does not know (and so cannot relay faithfully)', body: withCaps(['report-status', 'frobnicate']), expect: http400('PROTO_UNSUPPORTED_CAPABILITY') },
    { ...base, id: 'capability-malformed', title: 'a capability in upper case', body: withCaps(['Report-Status']), expect: http400('PROTO_BAD_CAPABILITY') },
    { ...base, id: 'capability-missing-value', title: 'agent without its value', body: withCaps(['report-status', 'agent']), expect: http400('PROTO_BAD_CAPABILITY') },
    { ...base, id: 'capability-unexpected-value', title: 'a flag capability given a value', body: withCaps(['report-status=yes']), expect: http400('PROTO_BAD_CAPABILITY') },
    { ...base, id: 'capability-both-sidebands', title: 'side-band and side-band-64k together', body: withCaps(['report-status', 'side-band', 'side-band-64k']), expect: http400('PROTO_BAD_CAPABILITY') },
    { ...base, id: 'capability-control-bytes', title: 'an agent value with a control character', body: withCaps(' report-status agent=x\u0007y'), expect: http400('PROTO_BAD_CAPABILITY') },
    {
      ...base,
      category: 'repository',
      id: 'capability-object-format-sha256',
      title: 'a push that says its object format is SHA-256',
      body: withCaps(['report-status', 'object-format=sha256']),
      expect: http400('PROTO_UNSUPPORTED_OBJECT_FORMAT'),
    },
  ];
}

function pushOptionCases(): HostileCase[] {
  const base = { category: 'push-options' as const, repo: 'one-commit' as const, gateway: 'strict' as const };
  const command = { ref: MAIN, oldOid: BASE.commit.oid, newOid: GOOD_COMMIT.oid };
  return [
    {
      ...base,
      id: 'push-options-without-capability',
      title: 'push options sent although push-options was not requested',
      body: receivePackBody({ commands: [command], caps: [...SIDEBAND], pushOptions: ['ci.skip'], pack: goodPack() }),
      expect: http400('PROTO_UNEXPECTED_PUSH_OPTIONS'),
    },
    {
      ...base,
      id: 'push-option-not-utf8',
      title: 'a push option that is not UTF-8',
      body: Buffer.concat([
        pktLine(`${BASE.commit.oid} ${GOOD_COMMIT.oid} ${MAIN}\0 ${[...SIDEBAND, 'push-options'].join(' ')}`),
        Buffer.from(FLUSH),
        pktLine(Buffer.from([0x6f, 0x70, 0x74, 0x3d, 0xff])),
        Buffer.from(FLUSH),
        goodPack(),
      ]),
      expect: http400('PROTO_BAD_PUSH_OPTION'),
    },
    {
      ...base,
      id: 'push-options-unterminated',
      title: 'push options with no flush-pkt: the body ends inside them',
      body: Buffer.concat([pktLine(`${BASE.commit.oid} ${GOOD_COMMIT.oid} ${MAIN}\0 report-status push-options`), Buffer.from(FLUSH), pktLine('ci.skip')]),
      expect: http400('PROTO_TRUNCATED'),
    },
    {
      ...base,
      category: 'limits',
      id: 'too-many-push-options',
      title: 'five push options, one more than maxPushOptions (4)',
      body: receivePackBody({ commands: [command], caps: [...SIDEBAND, 'push-options'], pushOptions: ['a=1', 'b=2', 'c=3', 'd=4', 'e=5'], pack: goodPack() }),
      expect: http400('LIMIT_PUSH_OPTIONS'),
    },
  ];
}

function bodyEncodingCases(): HostileCase[] {
  const base = { category: 'body-encoding' as const, repo: 'one-commit' as const, gateway: 'strict' as const };
  const good = pushBody(GOOD_COMMIT.oid, goodPack());
  const plainGood = pushBody(GOOD_COMMIT.oid, goodPack(), { caps: PLAIN });
  const gz = storedGzip(good);
  return [
    { ...base, id: 'gzip-not-gzip', title: 'Content-Encoding: gzip on a body that is not gzip', contentEncoding: 'gzip', body: Buffer.from('this is not gzip at all\n'), expect: http400('PUSH_BAD_BODY') },
    {
      ...base,
      id: 'gzip-truncated-in-pack',
      title: 'a gzip body cut off inside the pack (the commands decode, the pack never ends)',
      contentEncoding: 'gzip',
      body: gz.subarray(0, gz.length - 40),
      expect: unpackRefused('PUSH_BAD_BODY', [MAIN], true),
    },
    {
      ...base,
      id: 'gzip-bad-crc-small',
      title: 'a small gzip body whose CRC-32 is wrong: the decoder sees only the error, before any command',
      contentEncoding: 'gzip',
      body: storedGzip(plainGood, { crc: 0x12345678 }),
      expect: http400('PUSH_BAD_BODY'),
    },
    {
      ...base,
      id: 'gzip-bad-crc',
      title: 'a 480 KiB gzip body whose data is whole but whose CRC-32 is wrong: known only at its very end, after the pack was spooled',
      contentEncoding: 'gzip',
      body: storedGzip(pushBody(GOOD_COMMIT.oid, packOf([...GOOD_OBJECTS, builtObject('blob', Buffer.alloc(480 * 1024, 0x7a))]), { caps: PLAIN }), { crc: 0x12345678 }),
      expect: unpackRefused('PUSH_BAD_BODY', [MAIN], false),
    },
    { ...base, id: 'content-encoding-unsupported', title: 'a Content-Encoding pushgate does not decode', contentEncoding: 'br', body: good, expect: { kind: 'http', status: 415, code: 'PUSH_UNSUPPORTED_ENCODING' } },
  ];
}

function packCases(): HostileCase[] {
  const base = { category: 'pack' as const, repo: 'one-commit' as const, gateway: 'strict' as const };
  const refused = (code: string, sideband = true) => unpackRefused(code, [MAIN], sideband);
  const good = goodPack();
  const body = (pack: Buffer, caps: readonly string[] = SIDEBAND) => pushBody(GOOD_COMMIT.oid, pack, { caps });
  const dataAt = firstEntryDataOffset(good);
  return [
    { ...base, id: 'pack-truncated-in-header', title: 'the pack ends inside its 12-byte header', body: body(good.subarray(0, 8)), expect: refused('PACK_TRUNCATED') },
    { ...base, id: 'pack-truncated-in-entry', title: 'the pack ends in the middle of an entry', body: body(good.subarray(0, 60)), expect: refused('PACK_TRUNCATED') },
    { ...base, id: 'pack-truncated-in-trailer', title: 'the pack ends inside its checksum trailer', body: body(good.subarray(0, good.length - 7), PLAIN), expect: refused('PACK_TRUNCATED', false) },
    { ...base, id: 'pack-without-trailer', title: 'the pack has no checksum trailer at all', body: body(goodPack({ trailer: 'none' })), expect: refused('PACK_TRUNCATED') },
    { ...base, id: 'pack-bad-signature', title: 'the pack does not start with PACK', body: body(retrailed(patched(good, 0, [0x50, 0x41, 0x4b, 0x43]))), expect: refused('PACK_BAD_SIGNATURE') },
    { ...base, id: 'pack-not-a-pack', title: 'text where the pack belongs', body: body(Buffer.from('this is not a pack, it is a letter of complaint\n')), expect: refused('PACK_BAD_SIGNATURE') },
    { ...base, id: 'pack-version-4', title: 'pack version 4', body: body(retrailed(patched(good, 4, [0, 0, 0, 4]))), expect: refused('PACK_UNSUPPORTED_VERSION') },
    { ...base, id: 'pack-count-too-high', title: 'the header counts more objects than the pack holds', body: body(goodPack({ objectCount: 5 })), expect: refused('PACK_OBJECT_COUNT_MISMATCH') },
    { ...base, id: 'pack-count-too-low', title: 'the header counts fewer objects than the pack holds', body: body(goodPack({ objectCount: 2 }), QUIET), expect: refused('PACK_OBJECT_COUNT_MISMATCH') },
    { ...base, id: 'pack-bad-trailer', title: 'a checksum trailer that does not match the pack', body: body(goodPack({ trailer: Buffer.alloc(20, 0xab) })), expect: refused('PACK_BAD_TRAILER') },
    {
      ...base,
      id: 'pack-bad-trailer-no-report',
      title: 'a bad trailer from a client that asked for no report: only the HTTP status can say it',
      body: body(goodPack({ trailer: Buffer.alloc(20, 0xab) }), [AGENT]),
      expect: http400('PACK_BAD_TRAILER'),
    },
    {
      ...base,
      id: 'pack-bad-trailer-small-side-band',
      title: 'a bad trailer from a client using the old 1000-byte side-band and report-status-v2',
      body: body(goodPack({ trailer: Buffer.alloc(20, 0xcd) }), ['report-status-v2', 'side-band', 'ofs-delta', AGENT]),
      expect: refused('PACK_BAD_TRAILER'),
    },
    { ...base, id: 'pack-trailing-garbage', title: 'bytes after a valid checksum trailer', body: body(Buffer.concat([good, Buffer.from('and some more')])), expect: refused('PACK_TRAILING_GARBAGE') },
    {
      ...base,
      id: 'pack-entry-type-5',
      title: 'an entry of the reserved type 5',
      body: body(packEntries([{ kind: 'raw', bytes: Buffer.concat([Buffer.from([0x55]), storedZlib(Buffer.from('fives'))]) }])),
      expect: refused('PACK_BAD_ENTRY_TYPE'),
    },
    {
      ...base,
      id: 'pack-entry-type-0',
      title: 'an entry of the invalid type 0',
      body: body(packEntries([{ kind: 'raw', bytes: Buffer.concat([Buffer.from([0x05]), storedZlib(Buffer.from('zero!'))]) }])),
      expect: refused('PACK_BAD_ENTRY_TYPE'),
    },
    {
      ...base,
      id: 'pack-entry-size-overflow',
      title: 'an entry header whose size varint runs past 53 bits',
      body: body(packEntries([{ kind: 'raw', bytes: Buffer.concat([Buffer.from([0xbf, ...Array(9).fill(0xff), 0x01]), storedZlib(Buffer.from('x'))]) }])),
      expect: refused('PACK_BAD_ENTRY_HEADER'),
    },
    {
      ...base,
      category: 'zlib',
      id: 'zlib-corrupt-data',
      title: 'an entry whose zlib data was altered (its Adler-32 no longer matches); the trailer is fixed up',
      body: body(retrailed(patched(good, dataAt + 2 + 5 + 3, [0x21]))),
      expect: refused('PACK_ZLIB_CORRUPT'),
    },
    {
      ...base,
      category: 'zlib',
      id: 'zlib-bad-block-type',
      title: 'an entry whose deflate stream uses the reserved block type 3',
      body: body(retrailed(patched(good, dataAt + 2, [0x07]))),
      expect: refused('PACK_ZLIB_CORRUPT'),
    },
    {
      ...base,
      category: 'zlib',
      id: 'zlib-bad-header',
      title: 'an entry whose zlib header is not a zlib header',
      body: body(retrailed(patched(good, dataAt, [0x12, 0x34]))),
      expect: refused('PACK_ZLIB_CORRUPT'),
    },
    {
      ...base,
      category: 'zlib',
      id: 'size-larger-than-declared',
      title: 'an entry that inflates to more bytes than its header declares',
      body: body(packEntries([{ kind: 'object', type: 'blob', data: GOOD_BLOB.data, declaredSize: GOOD_BLOB.data.length - 5 }])),
      expect: refused('PACK_SIZE_MISMATCH'),
    },
    {
      ...base,
      category: 'zlib',
      id: 'size-smaller-than-declared',
      title: 'an entry that inflates to fewer bytes than its header declares',
      body: body(packEntries([{ kind: 'object', type: 'blob', data: GOOD_BLOB.data, declaredSize: GOOD_BLOB.data.length + 5 }])),
      expect: refused('PACK_SIZE_MISMATCH'),
    },
    {
      ...base,
      category: 'zlib',
      id: 'deflate-bomb-declared',
      title: 'a 15-byte zlib stream in an entry declaring 1 TiB',
      body: body(packEntries([{ kind: 'object', type: 'blob', data: 'x', declaredSize: 2 ** 40 }])),
      expect: refused('LIMIT_OBJECT_SIZE'),
    },
    {
      ...base,
      category: 'zlib',
      id: 'deflate-bomb-actual',
      title: 'an entry declaring 1000 bytes whose 420 KB of deflate inflate to 64 MiB of zeros',
      body: body(packEntries([{ kind: 'object', type: 'blob', data: Buffer.alloc(0), declaredSize: 1000, zlib: repeatZlib(0, 64 * MIB) }])),
      expect: refused('PACK_SIZE_MISMATCH'),
    },
  ];
}

function deltaCases(): HostileCase[] {
  const base = { category: 'delta' as const, repo: 'one-commit' as const, gateway: 'strict' as const };
  const refused = (code: string) => unpackRefused(code, [MAIN], true);
  const body = (pack: Buffer) => pushBody(GOOD_COMMIT.oid, pack);
  const b = GOOD_BLOB;
  const size = b.data.length;
  const copyAll: DeltaOp[] = [{ op: 'copy', offset: 0, size }];
  const ofs = (delta: Buffer): PackEntrySpec => ({ kind: 'ofs-delta', base: 0, delta });
  // Two insert-only deltas, each naming the other's result as its base: neither can be resolved.
  const x = Buffer.from('cycle x\n');
  const y = Buffer.from('cycle y\n');
  const cycle = packEntries([
    { kind: 'ref-delta', base: oid(gitObjectId('blob', y)), delta: encodeDelta(y.length, x.length, [{ op: 'insert', data: x }]) },
    { kind: 'ref-delta', base: oid(gitObjectId('blob', x)), delta: encodeDelta(x.length, y.length, [{ op: 'insert', data: y }]) },
  ]);
  const self = Buffer.from('i am my own base\n');
  const strictDepth = HOSTILE_GATEWAYS.strict.limits.maxDeltaDepth;
  const chain = deltaChainEntries(strictDepth + 1, 'strict');
  const thinChain: PackEntrySpec[] = [
    { kind: 'ref-delta', base: oid(README.oid), delta: encodeDelta(README.data.length, README.data.length + 1, [{ op: 'copy', offset: 0, size: README.data.length }, { op: 'insert', data: '!' }]) },
  ];
  for (let d = 1; d < strictDepth; d++) {
    const from = README.data.length + d;
    thinChain.push({ kind: 'ofs-delta', base: d - 1, delta: encodeDelta(from, from + 1, [{ op: 'copy', offset: 0, size: from }, { op: 'insert', data: '!' }]) });
  }
  return [
    { ...base, id: 'delta-copy-out-of-range', title: 'a delta copying bytes beyond the end of its base', body: body(packEntries([whole(b), ofs(encodeDelta(size, 64, [{ op: 'copy', offset: size - 4, size: 64 }]))])), expect: refused('PACK_DELTA_OUT_OF_RANGE') },
    { ...base, id: 'delta-copy-huge-offset', title: 'a delta copying from offset 2^32 - 1', body: body(packEntries([whole(b), ofs(encodeDelta(size, 16, [{ op: 'copy', offset: 0xffffffff, size: 16 }]))])), expect: refused('PACK_DELTA_OUT_OF_RANGE') },
    { ...base, id: 'delta-insert-past-result', title: 'a delta inserting more than its stated result size', body: body(packEntries([whole(b), ofs(encodeDelta(size, 3, [{ op: 'insert', data: 'more than three' }]))])), expect: refused('PACK_DELTA_OUT_OF_RANGE') },
    { ...base, id: 'delta-base-size-mismatch', title: "a delta stating a base size other than its base's", body: body(packEntries([whole(b), ofs(encodeDelta(size + 1, size, copyAll))])), expect: refused('PACK_DELTA_SIZE_MISMATCH') },
    { ...base, id: 'delta-result-size-mismatch', title: 'a delta producing fewer bytes than it states', body: body(packEntries([whole(b), ofs(encodeDelta(size, size + 10, copyAll))])), expect: refused('PACK_DELTA_SIZE_MISMATCH') },
    {
      ...base,
      id: 'delta-reserved-instruction',
      title: 'a delta using the reserved instruction 0',
      body: body(packEntries([whole(b), ofs(Buffer.concat([encodeDelta(size, size, copyAll), Buffer.from([0])]))])),
      expect: refused('PACK_DELTA_BAD_INSTRUCTION'),
    },
    {
      ...base,
      id: 'delta-truncated-instruction',
      title: 'a delta ending inside a copy instruction',
      body: body(packEntries([whole(b), ofs(Buffer.concat([encodeDelta(size, size, []), Buffer.from([0x91])]))])),
      expect: refused('PACK_DELTA_BAD_INSTRUCTION'),
    },
    {
      ...base,
      id: 'ofs-delta-before-pack',
      title: 'an OFS delta whose base would lie before the start of the pack',
      body: body(packEntries([whole(b), { kind: 'ofs-delta', base: 0, distance: 4096, delta: encodeDelta(size, size, copyAll) }])),
      expect: refused('PACK_DELTA_BAD_OFFSET'),
    },
    {
      ...base,
      id: 'ofs-delta-mid-entry',
      title: 'an OFS delta whose base offset falls inside another entry',
      body: body(packEntries([whole(b), { kind: 'ofs-delta', base: 0, distance: 10 + size, delta: encodeDelta(size, size, copyAll) }])),
      expect: refused('PACK_DELTA_BAD_OFFSET'),
    },
    {
      ...base,
      id: 'ref-delta-unknown-base',
      title: 'a REF delta against an object that exists nowhere',
      body: body(packEntries([{ kind: 'ref-delta', base: oid(nowhere(1)), delta: encodeDelta(size, size, copyAll) }])),
      expect: refused('PACK_DELTA_BASE_MISSING'),
    },
    {
      ...base,
      id: 'thin-base-only-in-neighbour',
      title: "a thin pack whose base exists upstream, but only in another repository (no cross-repository reads)",
      body: body(packEntries([{ kind: 'ref-delta', base: oid(NEIGHBOUR.blobs[0].oid), delta: encodeDelta(NEIGHBOUR.blobs[0].data.length, 4, [{ op: 'copy', offset: 0, size: 4 }]) }])),
      expect: refused('PACK_DELTA_BASE_MISSING'),
    },
    {
      ...base,
      id: 'thin-delta-out-of-range',
      title: "a thin delta on the upstream's README that copies past its end",
      body: body(packEntries([{ kind: 'ref-delta', base: oid(README.oid), delta: encodeDelta(README.data.length, 100, [{ op: 'copy', offset: 0, size: 100 }]) }])),
      expect: refused('PACK_DELTA_OUT_OF_RANGE'),
    },
    { ...base, id: 'ref-delta-cycle', title: 'two REF deltas, each the base of the other', body: body(cycle), expect: refused('PACK_DELTA_CYCLE') },
    {
      ...base,
      id: 'ref-delta-self',
      title: 'a REF delta whose base is its own result',
      body: body(packEntries([{ kind: 'ref-delta', base: oid(gitObjectId('blob', self)), delta: encodeDelta(self.length, self.length, [{ op: 'insert', data: self }]) }])),
      expect: refused('PACK_DELTA_CYCLE'),
    },
    {
      ...base,
      category: 'limits',
      id: 'delta-chain-too-deep',
      title: `a chain of ${strictDepth + 1} OFS deltas, one deeper than maxDeltaDepth (${strictDepth})`,
      body: body(packEntries(chain.entries)),
      expect: refused('LIMIT_DELTA_DEPTH'),
    },
    {
      ...base,
      category: 'limits',
      id: 'thin-delta-chain-too-deep',
      title: `a REF delta on the upstream's README and ${strictDepth - 1} OFS deltas on it: depth counts from the outside base`,
      body: body(packEntries([...thinChain, { kind: 'ofs-delta', base: strictDepth - 1, delta: encodeDelta(README.data.length + strictDepth, 1, [{ op: 'copy', offset: 0, size: 1 }]) }])),
      expect: refused('LIMIT_DELTA_DEPTH'),
    },
    {
      ...base,
      category: 'limits',
      id: 'delta-result-too-large',
      title: 'a small delta stating a 1 TiB result',
      body: body(packEntries([whole(b), ofs(encodeDelta(size, 2 ** 40, copyAll))])),
      expect: refused('LIMIT_OBJECT_SIZE'),
    },
  ];
}

function limitCases(): HostileCase[] {
  const base = { category: 'limits' as const, repo: 'one-commit' as const, gateway: 'strict' as const };
  const limits = HOSTILE_GATEWAYS.strict.limits;
  const many = Array.from({ length: limits.maxObjects + 1 }, (_, i) => builtObject('blob', `blob number ${i}\n`));
  const big = builtObject('blob', Buffer.alloc(limits.maxObjectBytes + 1, 0x62));
  const chunks = Array.from({ length: 5 }, (_, i) => builtObject('blob', Buffer.alloc(limits.maxObjectBytes - 16, 0x30 + i)));
  // A linear history one commit longer than maxCommitsInspected, each adding a file.
  const commits: BuiltObject[] = [];
  const objects: BuiltObject[] = [];
  let parent = BASE.commit.oid;
  for (let i = 0; i <= limits.maxCommitsInspected; i++) {
    const blob = builtObject('blob', `commit ${i}\n`);
    const t = tree([
      { mode: '100644', name: 'README.md', oid: README.oid },
      { mode: '100644', name: 'count.txt', oid: blob.oid },
    ]);
    const c = builtObject('commit', commitObject({ tree: t.oid, parents: [parent], message: `commit ${i}\n` }));
    commits.push(c);
    objects.push(c, t, blob);
    parent = c.oid;
  }
  return [
    { ...base, id: 'too-many-objects', title: `${limits.maxObjects + 1} objects, one more than maxObjects (${limits.maxObjects})`, body: pushBody(GOOD_COMMIT.oid, packOf([...GOOD_OBJECTS, ...many])), expect: unpackRefused('LIMIT_OBJECT_COUNT', [MAIN], true) },
    { ...base, id: 'object-too-large', title: `a blob of maxObjectBytes (${limits.maxObjectBytes}) + 1 bytes`, body: pushBody(GOOD_COMMIT.oid, packOf([...GOOD_OBJECTS, big])), expect: unpackRefused('LIMIT_OBJECT_SIZE', [MAIN], true) },
    { ...base, id: 'pack-too-large', title: `a pack of more than maxPackBytes (${limits.maxPackBytes})`, body: pushBody(GOOD_COMMIT.oid, packOf([...GOOD_OBJECTS, ...chunks])), expect: unpackRefused('LIMIT_PACK_BYTES', [MAIN], true) },
    {
      ...base,
      id: 'too-many-commits',
      title: `${limits.maxCommitsInspected + 1} new commits, one more than maxCommitsInspected (${limits.maxCommitsInspected})`,
      body: pushBody(commits.at(-1)!.oid, packOf(objects), { caps: PLAIN }),
      expect: unpackRefused('LIMIT_COMMITS', [MAIN], false),
    },
  ];
}

/** A push of a commit on main whose tree is `entries` written as given, or raw tree bytes (plus `extra` objects). */
function treeCase(id: string, title: string, code: string, entries: readonly RawTreeEntry[] | Buffer, extra: readonly BuiltObject[] = []): HostileCase {
  const t = builtObject('tree', Buffer.isBuffer(entries) ? entries : treeObject(entries));
  const commit = childOfMain(t);
  return {
    id,
    title,
    category: 'trees',
    repo: 'one-commit',
    gateway: 'strict',
    body: pushBody(commit.oid, packOf([commit, t, ...extra])),
    expect: unpackRefused(code, [MAIN], true),
  };
}

function treeCases(): HostileCase[] {
  const r = README.oid;
  const file = (name: string | Uint8Array, mode = '100644'): RawTreeEntry => ({ mode, name, oid: r });
  const config = builtObject('blob', '[core]\n\thooksPath = /tmp/evil\n');
  const dotgitDir = builtObject('tree', treeObject([{ mode: '100644', name: 'config', oid: config.oid }]));
  const nested = builtObject('tree', treeObject([{ mode: TREE_MODE, name: '.git', oid: dotgitDir.oid }]));
  const hfs = (s: string) => Buffer.from(s, 'utf8');
  return [
    treeCase('tree-dotgit', 'a tree entry named .git (a directory holding config)', 'OBJ_HAS_DOTGIT', [{ mode: TREE_MODE, name: '.git', oid: dotgitDir.oid }], [dotgitDir, config]),
    treeCase('tree-dotgit-upper', 'a tree entry named .GIT (case-insensitive file systems)', 'OBJ_HAS_DOTGIT', [file('.GIT')]),
    treeCase('tree-dotgit-mixed-case', 'a tree entry named .gIt', 'OBJ_HAS_DOTGIT', [file('.gIt')]),
    treeCase('tree-dotgit-hfs-zwnj', 'a tree entry named .g\\u200cit (HFS+ ignores the zero-width non-joiner)', 'OBJ_HAS_DOTGIT', [file(hfs('.g\u200cit'))]),
    treeCase('tree-dotgit-hfs-bom', 'a tree entry named \\ufeff.git (HFS+ ignores the byte order mark)', 'OBJ_HAS_DOTGIT', [file(hfs('\ufeff.git'))]),
    treeCase('tree-dotgit-ntfs-short', 'a tree entry named git~1 (the NTFS 8.3 short name of .git)', 'OBJ_HAS_DOTGIT', [file('git~1')]),
    treeCase('tree-dotgit-ntfs-trailing-dot', 'a tree entry named .git. (NTFS drops trailing dots)', 'OBJ_HAS_DOTGIT', [file('.git.')]),
    treeCase('tree-dotgit-ntfs-trailing-space', 'a tree entry named ".git " (NTFS drops trailing spaces)', 'OBJ_HAS_DOTGIT', [file('.git ')]),
    treeCase('tree-dotgit-ntfs-stream', 'a tree entry named .git::$INDEX_ALLOCATION (an NTFS stream of .git)', 'OBJ_HAS_DOTGIT', [file('.git::$INDEX_ALLOCATION')]),
    treeCase('tree-dotgit-nested', 'a .git directory inside a subdirectory', 'OBJ_HAS_DOTGIT', [{ mode: TREE_MODE, name: 'vendor', oid: nested.oid }], [nested, dotgitDir, config]),
    treeCase('tree-dotdot', 'a tree entry named ..', 'OBJ_HAS_DOTDOT', [file('..')]),
    treeCase('tree-dot', 'a tree entry named .', 'OBJ_HAS_DOT', [file('.')]),
    treeCase('tree-slash', 'a tree entry whose name contains /', 'OBJ_FULL_PATHNAME', [file('etc/passwd')]),
    treeCase('tree-empty-name', 'a tree entry with an empty name', 'OBJ_EMPTY_NAME', [file('')]),
    treeCase('tree-duplicate-entries', 'two entries with the same name', 'OBJ_DUPLICATE_ENTRIES', [file('twice.txt'), file('twice.txt')]),
    treeCase('tree-duplicate-file-and-dir', 'a file and a directory with the same name', 'OBJ_DUPLICATE_ENTRIES', [file('x'), { mode: TREE_MODE, name: 'x', oid: BASE.tree.oid }]),
    treeCase('tree-unsorted', 'entries out of order', 'OBJ_TREE_NOT_SORTED', [file('b.txt'), file('a.txt')]),
    treeCase('tree-bad-mode', 'an entry with mode 100600', 'OBJ_BAD_FILEMODE', [file('secret', '100600')]),
    treeCase('tree-bad-mode-664', 'an entry with the legacy mode 100664 (refused in strict mode, as git fsck --strict does)', 'OBJ_BAD_FILEMODE', [file('legacy', '100664')]),
    treeCase('tree-zero-padded-mode', 'an entry with the zero-padded mode 0100644', 'OBJ_ZERO_PADDED_FILEMODE', [file('padded', '0100644')]),
    treeCase('tree-gitmodules-symlink', '.gitmodules as a symbolic link', 'OBJ_GITMODULES_SYMLINK', [file('.gitmodules', '120000')]),
    treeCase('tree-gitmodules-symlink-ntfs', 'GITMOD~1 (the NTFS short name of .gitmodules) as a symbolic link', 'OBJ_GITMODULES_SYMLINK', [file('GITMOD~1', '120000')]),
    treeCase('tree-truncated-entry', 'a tree whose only entry is cut off inside its object id', 'OBJ_BAD_TREE', treeObject([file('README.md')]).subarray(0, 25)),
  ];
}

/** A push of a commit whose contents are exactly `data` (plus the good tree and blob it may name). */
function commitCase(id: string, title: string, code: string, data: Buffer): HostileCase {
  const commit = builtObject('commit', data);
  return {
    id,
    title,
    category: 'commits',
    repo: 'one-commit',
    gateway: 'strict',
    body: pushBody(commit.oid, packOf([commit, GOOD_TREE, GOOD_BLOB])),
    expect: unpackRefused(code, [MAIN], true),
  };
}

function commitCases(): HostileCase[] {
  const t = `tree ${GOOD_TREE.oid}`;
  const p = `parent ${BASE.commit.oid}`;
  const who = identLine(BUILDER_IDENT);
  const ok = (headers: (string | Buffer)[], message = 'hostile\n') => rawHeaderObject(headers, message);
  return [
    commitCase('commit-missing-tree', 'a commit without a tree line', 'OBJ_MISSING_TREE', ok([p, `author ${who}`, `committer ${who}`])),
    commitCase('commit-bad-tree-id', 'a commit whose tree id is not 40 hex digits', 'OBJ_BAD_TREE_SHA1', ok([`tree ${GOOD_TREE.oid.slice(0, 39)}z`, p, `author ${who}`, `committer ${who}`])),
    commitCase('commit-sha256-tree-id', 'a commit naming its tree by a 64-digit (SHA-256) id', 'OBJ_SHA256_ID', ok([`tree ${'ab'.repeat(32)}`, p, `author ${who}`, `committer ${who}`])),
    commitCase('commit-bad-parent-id', 'a commit whose parent id is malformed', 'OBJ_BAD_PARENT_SHA1', ok([t, 'parent 123', `author ${who}`, `committer ${who}`])),
    commitCase('commit-missing-author', 'a commit without an author', 'OBJ_MISSING_AUTHOR', ok([t, p, `committer ${who}`])),
    commitCase('commit-two-authors', 'a commit with two authors', 'OBJ_MULTIPLE_AUTHORS', ok([t, p, `author ${who}`, `author ${who}`, `committer ${who}`])),
    commitCase('commit-missing-committer', 'a commit without a committer', 'OBJ_MISSING_COMMITTER', ok([t, p, `author ${who}`])),
    commitCase('commit-author-no-email', 'an author with no email', 'OBJ_MISSING_EMAIL', ok([t, p, 'author Mallory 1700000000 +0000', `committer ${who}`])),
    commitCase('commit-author-no-name', 'an author line that starts with the email', 'OBJ_MISSING_NAME_BEFORE_EMAIL', ok([t, p, 'author <m@example.com> 1700000000 +0000', `committer ${who}`])),
    commitCase('commit-author-bad-email', 'an author whose email is never closed', 'OBJ_BAD_EMAIL', ok([t, p, 'author Mallory <m@example.com 1700000000 +0000', `committer ${who}`])),
    commitCase('commit-author-bad-name', 'an author whose name contains >', 'OBJ_BAD_NAME', ok([t, p, 'author Mal>lory <m@example.com> 1700000000 +0000', `committer ${who}`])),
    commitCase('commit-bad-timezone', 'an author with the time zone +25:00', 'OBJ_BAD_TIMEZONE', ok([t, p, 'author Mallory <m@example.com> 1700000000 +25:00', `committer ${who}`])),
    commitCase('commit-timezone-letters', 'a committer with the time zone "UTC"', 'OBJ_BAD_TIMEZONE', ok([t, p, `author ${who}`, 'committer Mallory <m@example.com> 1700000000 UTC'])),
    commitCase('commit-bad-date', 'an author whose date is not a number', 'OBJ_BAD_DATE', ok([t, p, 'author Mallory <m@example.com> yesterday +0000', `committer ${who}`])),
    commitCase('commit-zero-padded-date', 'an author with a zero-padded date', 'OBJ_ZERO_PADDED_DATE', ok([t, p, 'author Mallory <m@example.com> 01700000000 +0000', `committer ${who}`])),
    commitCase('commit-date-overflow', 'an author whose date overflows 64 bits', 'OBJ_BAD_DATE_OVERFLOW', ok([t, p, 'author Mallory <m@example.com> 99999999999999999999999 +0000', `committer ${who}`])),
    commitCase('commit-nul-in-header', 'a NUL byte inside the author line', 'OBJ_NUL_IN_HEADER', ok([t, p, Buffer.from(`author Mal\0lory <m@example.com> 1700000000 +0000`), `committer ${who}`])),
    commitCase('commit-nul-in-message', 'a NUL byte in the message', 'OBJ_NUL_IN_COMMIT', ok([t, p, `author ${who}`, `committer ${who}`], 'looks innocent\0but is not\n')),
    commitCase('commit-unterminated-header', 'a commit that is only headers, the last without its newline', 'OBJ_UNTERMINATED_HEADER', Buffer.from(`${t}\n${p}\nauthor ${who}\ncommitter ${who}`)),
  ];
}

/** A push creating refs/tags/<name> at a tag object whose contents are exactly `data`. */
function tagCase(id: string, title: string, code: string, data: Buffer): HostileCase {
  const tag = builtObject('tag', data);
  const ref = 'refs/tags/hostile';
  return {
    id,
    title,
    category: 'tags',
    repo: 'one-commit',
    gateway: 'strict',
    body: pushBody(tag.oid, packOf([tag]), { ref, caps: PLAIN }),
    expect: unpackRefused(code, [ref], false),
  };
}

function tagCases(): HostileCase[] {
  const o = `object ${BASE.commit.oid}`;
  const who = identLine(BUILDER_IDENT);
  const raw = (headers: string[]) => rawHeaderObject(headers, 'tag message\n');
  return [
    tagCase('tag-missing-object', 'a tag without an object line', 'OBJ_MISSING_OBJECT', raw(['type commit', 'tag v1', `tagger ${who}`])),
    tagCase('tag-bad-object-id', 'a tag whose object id is malformed', 'OBJ_BAD_OBJECT_SHA1', raw([`object ${BASE.commit.oid.slice(0, 30)}`, 'type commit', 'tag v1', `tagger ${who}`])),
    tagCase('tag-missing-type', 'a tag without a type line', 'OBJ_MISSING_TYPE_ENTRY', raw([o, 'tag v1', `tagger ${who}`])),
    tagCase('tag-bad-type', 'a tag of type "blurb"', 'OBJ_BAD_TYPE', raw([o, 'type blurb', 'tag v1', `tagger ${who}`])),
    tagCase('tag-missing-tag-line', 'a tag without a tag (name) line', 'OBJ_MISSING_TAG_ENTRY', raw([o, 'type commit', `tagger ${who}`])),
    tagCase('tag-bad-name', 'a tag named "v1..2", which cannot be a ref', 'OBJ_BAD_TAG_NAME', raw([o, 'type commit', 'tag v1..2', `tagger ${who}`])),
    tagCase('tag-bad-tagger', 'a tagger without an email', 'OBJ_MISSING_EMAIL', raw([o, 'type commit', 'tag v1', 'tagger Mallory 1700000000 +0000'])),
    tagCase('tag-nul-in-header', 'a NUL in the tag header', 'OBJ_NUL_IN_HEADER', rawHeaderObject([o, 'type commit', 'tag v1\0evil', `tagger ${who}`], 'msg\n')),
  ];
}

function connectivityCases(): HostileCase[] {
  const base = { category: 'connectivity' as const, repo: 'one-commit' as const, gateway: 'strict' as const };
  const refusedRef = (code: string, ref: string, others: readonly string[] = [], sideband = true): HostileExpectation => ({
    kind: 'report',
    code,
    unpack: 'ok',
    refs: { [ref]: 'refused', ...Object.fromEntries(others.map((o) => [o, 'not-applied' as const])) },
    sideband,
  });
  // A commit whose tree is a blob (the upstream's README): type confusion.
  const blobAsTree = builtObject('commit', commitObject({ tree: README.oid, parents: [BASE.commit.oid], message: 'my tree is a blob\n' }));
  const treeAsParent = builtObject('commit', commitObject({ tree: GOOD_TREE.oid, parents: [BASE.tree.oid], message: 'my parent is a tree\n' }));
  const missingParent = builtObject('commit', commitObject({ tree: GOOD_TREE.oid, parents: [nowhere(2)], message: 'orphaned\n' }));
  const missingTree = builtObject('commit', commitObject({ tree: nowhere(3), parents: [BASE.commit.oid], message: 'treeless\n' }));
  const missingBlobTree = tree([{ mode: '100644', name: 'ghost.txt', oid: nowhere(4) }]);
  const missingBlob = childOfMain(missingBlobTree, 'a file that is nowhere\n');
  const missingSubtreeTree = tree([{ mode: TREE_MODE, name: 'ghost', oid: nowhere(5) }]);
  const missingSubtree = childOfMain(missingSubtreeTree, 'a directory that is nowhere\n');
  const blobIsTreeEntryTree = tree([{ mode: TREE_MODE, name: 'notadir', oid: README.oid }]);
  const blobIsTreeEntry = childOfMain(blobIsTreeEntryTree, 'a directory that is a blob\n');
  const tagOfNothing = builtObject('tag', tagObject({ object: nowhere(6), type: 'commit', tag: 'ghost', message: 'tags nothing\n' }));
  const tagLies = builtObject('tag', tagObject({ object: README.oid, type: 'commit', tag: 'liar', message: 'says commit, is a blob\n' }));
  const newBlob = builtObject('blob', 'a branch should not point here\n');
  return [
    { ...base, id: 'commit-tree-is-blob', title: 'a commit whose tree is a blob', body: pushBody(blobAsTree.oid, packOf([blobAsTree])), expect: refusedRef('CHANGES_WRONG_OBJECT_TYPE', MAIN) },
    { ...base, id: 'commit-parent-is-tree', title: 'a commit whose parent is a tree', body: pushBody(treeAsParent.oid, packOf([treeAsParent, GOOD_TREE, GOOD_BLOB])), expect: refusedRef('CHANGES_WRONG_OBJECT_TYPE', MAIN) },
    { ...base, id: 'tree-entry-blob-as-directory', title: 'a directory entry that names a blob', body: pushBody(blobIsTreeEntry.oid, packOf([blobIsTreeEntry, blobIsTreeEntryTree])), expect: refusedRef('CHANGES_WRONG_OBJECT_TYPE', MAIN) },
    {
      ...base,
      id: 'branch-points-at-blob',
      title: 'a branch created at a blob',
      body: pushBody(newBlob.oid, packOf([newBlob]), { ref: 'refs/heads/blob', caps: QUIET }),
      expect: refusedRef('CHANGES_NON_COMMIT_BRANCH', 'refs/heads/blob'),
    },
    { ...base, id: 'branch-points-at-tree', title: "a branch created at the upstream's root tree (empty pack)", body: pushBody(BASE.tree.oid, packOf([]), { ref: 'refs/heads/tree' }), expect: refusedRef('CHANGES_NON_COMMIT_BRANCH', 'refs/heads/tree') },
    { ...base, id: 'parent-missing', title: 'a commit whose parent is in neither the pack nor the upstream', body: pushBody(missingParent.oid, packOf([missingParent, GOOD_TREE, GOOD_BLOB]), { caps: PLAIN }), expect: refusedRef('CHANGES_MISSING_OBJECT', MAIN, [], false) },
    { ...base, id: 'tree-missing', title: 'a commit whose tree is in neither the pack nor the upstream', body: pushBody(missingTree.oid, packOf([missingTree])), expect: refusedRef('CHANGES_MISSING_OBJECT', MAIN) },
    { ...base, id: 'blob-missing', title: 'a tree entry naming a blob that is nowhere', body: pushBody(missingBlob.oid, packOf([missingBlob, missingBlobTree])), expect: refusedRef('CHANGES_MISSING_OBJECT', MAIN) },
    { ...base, id: 'subtree-missing', title: 'a tree entry naming a directory that is nowhere', body: pushBody(missingSubtree.oid, packOf([missingSubtree, missingSubtreeTree])), expect: refusedRef('CHANGES_MISSING_OBJECT', MAIN) },
    { ...base, id: 'ref-to-nowhere', title: 'a branch created at an id that is nowhere, with an empty pack', body: pushBody(nowhere(7), packOf([]), { ref: 'refs/heads/nowhere' }), expect: refusedRef('CHANGES_MISSING_OBJECT', 'refs/heads/nowhere') },
    { ...base, id: 'tag-of-missing-object', title: 'an annotated tag of an object that is nowhere', body: pushBody(tagOfNothing.oid, packOf([tagOfNothing]), { ref: 'refs/tags/ghost' }), expect: refusedRef('CHANGES_MISSING_OBJECT', 'refs/tags/ghost') },
    { ...base, id: 'tag-type-lies', title: 'an annotated tag that says "commit" of a blob', body: pushBody(tagLies.oid, packOf([tagLies]), { ref: 'refs/tags/liar' }), expect: refusedRef('CHANGES_WRONG_OBJECT_TYPE', 'refs/tags/liar') },
    {
      ...base,
      id: 'one-bad-ref-of-two',
      title: 'a push of a good branch and a bad one: the bad one is named, the good one is not applied either',
      body: receivePackBody({
        commands: [
          { ref: 'refs/heads/good', oldOid: ZERO_OID, newOid: GOOD_COMMIT.oid },
          { ref: 'refs/heads/bad', oldOid: ZERO_OID, newOid: missingParent.oid },
        ],
        caps: [...SIDEBAND],
        pack: packOf([...GOOD_OBJECTS, missingParent]),
      }),
      expect: refusedRef('CHANGES_MISSING_OBJECT', 'refs/heads/bad', ['refs/heads/good']),
    },
  ];
}

function repositoryCases(): HostileCase[] {
  return [
    {
      id: 'sha256-repository',
      title: 'a (SHA-1) push to a SHA-256 repository',
      category: 'repository',
      repo: 'sha256',
      gateway: 'strict',
      body: receivePackBody({ commands: [{ ref: 'refs/heads/topic', oldOid: ZERO_OID, newOid: GOOD_COMMIT.oid }], caps: [...PLAIN], pack: goodPack() }),
      expect: unpackRefused('MIRROR_UNSUPPORTED_OBJECT_FORMAT', ['refs/heads/topic'], false),
    },
  ];
}

/** Cases for the standard limits, run in a child process whose memory is measured. */
function standardCases(): HostileCase[] {
  const base = { repo: 'one-commit' as const, gateway: 'standard' as const };
  const limits = HOSTILE_GATEWAYS.standard.limits;
  const refused = (code: string) => unpackRefused(code, ['refs/heads/deep'], true);
  const body = (pack: Buffer) => pushBody(GOOD_COMMIT.oid, pack, { ref: 'refs/heads/deep' });
  return [
    {
      ...base,
      category: 'limits',
      id: 'delta-chain-4096',
      title: `a real chain of ${limits.maxDeltaDepth + 1} OFS deltas, one deeper than git's own cap (4095)`,
      body: deltaChainPush(limits.maxDeltaDepth + 1, 'refs/heads/deep').body,
      expect: refused('LIMIT_DELTA_DEPTH'),
    },
    {
      ...base,
      category: 'limits',
      id: 'object-count-4-billion',
      title: 'a pack header claiming 2^32 - 1 objects',
      body: body(goodPack({ objectCount: 0xffffffff })),
      expect: refused('LIMIT_OBJECT_COUNT'),
    },
    {
      ...base,
      category: 'pack',
      id: 'object-count-near-limit',
      title: 'a tiny pack whose header claims 9,999,999 objects (within the limit: nothing may be allocated for them)',
      body: body(goodPack({ objectCount: 9_999_999 })),
      expect: refused('PACK_OBJECT_COUNT_MISMATCH'),
    },
    {
      ...base,
      category: 'zlib',
      id: 'deflate-bomb-1tib',
      title: 'an entry declaring 1 TiB',
      body: body(packEntries([{ kind: 'object', type: 'blob', data: 'x', declaredSize: 2 ** 40 }])),
      expect: refused('LIMIT_OBJECT_SIZE'),
    },
    {
      ...base,
      category: 'zlib',
      id: 'deflate-bomb-256mib',
      title: 'an entry declaring 1000 bytes whose 1.7 MB of deflate inflate to 256 MiB',
      body: body(packEntries([{ kind: 'object', type: 'blob', data: Buffer.alloc(0), declaredSize: 1000, zlib: repeatZlib(0, 256 * MIB) }])),
      expect: refused('PACK_SIZE_MISMATCH'),
    },
    {
      ...base,
      category: 'zlib',
      id: 'deflate-bomb-at-limit',
      title: `an entry declaring exactly maxObjectBytes (${limits.maxObjectBytes}) whose deflate inflates to 256 MiB`,
      body: body(packEntries([{ kind: 'object', type: 'blob', data: Buffer.alloc(0), declaredSize: limits.maxObjectBytes, zlib: repeatZlib(0, 256 * MIB) }])),
      expect: refused('PACK_SIZE_MISMATCH'),
    },
    {
      ...base,
      category: 'delta',
      id: 'delta-bomb',
      title: 'a 40-byte delta stating a 1 TiB result',
      body: body(packEntries([whole(GOOD_BLOB), { kind: 'ofs-delta', base: 0, delta: encodeDelta(GOOD_BLOB.data.length, 2 ** 40, [{ op: 'copy', offset: 0, size: 16 }]) }])),
      expect: refused('LIMIT_OBJECT_SIZE'),
    },
    {
      ...base,
      category: 'pkt-line',
      id: 'pkt-oversize-standard',
      title: 'a 65535-byte pkt-line',
      body: Buffer.concat([Buffer.from('ffff'), Buffer.alloc(65531, 0x61)]),
      expect: http400('LIMIT_PKT_LINE'),
    },
  ];
}

/** Where the corpus lives in the repository. */
export function hostileCorpusDir(): string {
  return fileURLToPath(new URL('../../../fixtures/hostile/', import.meta.url));
}

/** A real push captured from git (see fixtures/hostile/captured/README.md), or undefined when not present. */
function captured(name: string): Buffer | undefined {
  try {
    return readFileSync(join(hostileCorpusDir(), 'captured', name));
  } catch {
    return undefined;
  }
}

/** Where the pack starts in a receive-pack body: after the flush that ends the commands (no push options). */
function packStart(body: Buffer): number {
  let p = 0;
  for (;;) {
    const len = parseInt(body.toString('latin1', p, p + 4), 16);
    p += len === 0 ? 4 : len;
    if (len === 0) return p;
  }
}

function capturedCases(): HostileCase[] {
  const real = captured('push-two-commits.bin');
  if (real === undefined) return [];
  const at = packStart(real);
  const base = { category: 'captured' as const, repo: 'one-commit' as const, gateway: 'strict' as const };
  const ref = MAIN;
  return [
    { ...base, id: 'captured-commands-only', title: "a real push from git 2.39 with its pack removed", body: real.subarray(0, at), expect: http400('PROTO_TRUNCATED') },
    { ...base, id: 'captured-truncated-pack', title: 'a real push from git cut off halfway through its pack', body: real.subarray(0, at + Math.floor((real.length - at) / 2)), expect: unpackRefused('PACK_TRUNCATED', [ref], true) },
    { ...base, id: 'captured-flipped-trailer', title: "a real push from git with one bit of its pack's checksum flipped", body: patched(real, real.length - 1, [real[real.length - 1] ^ 1]), expect: unpackRefused('PACK_BAD_TRAILER', [ref], true) },
  ];
}

/** Every case of the corpus, in manifest order. */
export function hostileCorpus(): HostileCase[] {
  const cases = [
    ...pktCases(),
    ...commandCases(),
    ...refNameCases(),
    ...capabilityCases(),
    ...pushOptionCases(),
    ...bodyEncodingCases(),
    ...packCases(),
    ...deltaCases(),
    ...limitCases(),
    ...treeCases(),
    ...commitCases(),
    ...tagCases(),
    ...connectivityCases(),
    ...repositoryCases(),
    ...capturedCases(),
    ...standardCases(),
  ];
  const ids = new Set<string>();
  for (const c of cases) {
    if (ids.has(c.id)) throw new Error(`hostile corpus: duplicate case id ${c.id}`);
    ids.add(c.id);
  }
  return cases;
}

/** A case as the manifest lists it: the body by file name, size and SHA-256. */
export interface HostileManifestCase extends Omit<HostileCase, 'body'> {
  readonly body: { readonly file: string; readonly bytes: number; readonly sha256: string };
}

/** `fixtures/hostile/manifest.json`. */
export interface HostileManifest {
  readonly description: string;
  readonly generator: string;
  readonly repositories: Readonly<Record<HostileRepositoryName, HostileRepository>>;
  readonly gateways: Readonly<Record<HostileGatewayName, HostileGateway>>;
  readonly cases: readonly HostileManifestCase[];
}

/** The manifest describing `cases`. */
export function hostileManifest(cases: readonly HostileCase[] = hostileCorpus()): HostileManifest {
  return {
    description:
      'Bad git-receive-pack request bodies and what pushgate must answer. POST each body to /<upstream>/<repo>/git-receive-pack with a valid token (and Content-Encoding when given) against the repository state and gateway limits named; nothing may reach the upstream.',
    generator: 'packages/testkit/src/hostile-corpus.ts; run `npx tsx fixtures/hostile/generate.ts` to rewrite this file and write bodies/',
    repositories: HOSTILE_REPOSITORIES,
    gateways: HOSTILE_GATEWAYS,
    cases: cases.map(({ body, ...rest }) => ({ ...rest, body: { file: `bodies/${rest.id}.bin`, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') } })),
  };
}

/** Writes manifest.json and bodies/<id>.bin into `dir` (default: the repository's fixtures/hostile). */
export async function writeHostileCorpus(dir: string = hostileCorpusDir()): Promise<HostileManifest> {
  const cases = hostileCorpus();
  const manifest = hostileManifest(cases);
  await mkdir(join(dir, 'bodies'), { recursive: true });
  for (const c of cases) await writeFile(join(dir, 'bodies', `${c.id}.bin`), c.body);
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
