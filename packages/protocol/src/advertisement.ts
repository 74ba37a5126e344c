/**
 * The smart-HTTP ref advertisement, `GET …/info/refs?service=<service>` (gitprotocol-http(5)
 * "Smart Server Response", gitprotocol-pack(5) "Reference Discovery"):
 *
 *   smart_reply     =  PKT-LINE("# service=$servicename" LF) "0000"
 *                      *1("version 1")
 *                      ref_list "0000"
 *   ref_list        =  empty_list / non_empty_list
 *   empty_list      =  PKT-LINE(zero-id SP "capabilities^{}" NUL cap-list LF)
 *   non_empty_list  =  PKT-LINE(obj-id SP name NUL cap_list LF) *ref_record
 *   ref_record      =  PKT-LINE(obj-id SP name LF) [PKT-LINE(obj-id SP name "^{}" LF)]
 *
 * followed by `shallow <id>` lines when the server repository is shallow, and `<id> .have` lines
 * for objects of alternates (receive-pack). Protocol v2 instead sends a capability advertisement
 * (gitprotocol-v2(5)): PKT-LINE("version 2" LF) *PKT-LINE(key[=value] LF) flush-pkt. git's
 * http-backend omits the `# service=` header when it speaks v2 (and for receive-pack when the
 * client asked for v2, though receive-pack then answers in v0), so the header is optional here.
 */
import { ZERO_OID, isOid, type Oid } from '@pushgate/core';
import { FLUSH, PktLineError, PktLineReader, chompLf, encodePkt, errPacketMessage, type Pkt } from '@pushgate/pktline';
import { Capabilities, formatCapability, parseCapability } from './capabilities';
import { ProtocolError } from './errors';
import { RECEIVE_PACK_CAPABILITIES } from './request';

/** The two smart-HTTP services. */
export type GitService = 'git-upload-pack' | 'git-receive-pack';

/** A v0/v1 advertisement: refs with capabilities on the first line. */
export interface RefAdvertisement {
  readonly version: 0 | 1;
  /** The `# service=` header's service, absent when there was no header. */
  readonly service?: GitService;
  /** Ref name → id, in advertisement order (HEAD first when present). */
  readonly refs: ReadonlyMap<string, Oid>;
  /** Ref name (without `^{}`) → the id of the object its annotated tag peels to. */
  readonly peeled: ReadonlyMap<string, Oid>;
  /** Ids advertised as `.have` (objects the server has through alternates). */
  readonly haves: readonly Oid[];
  /** `shallow <id>` lines of a shallow server repository. */
  readonly shallow: readonly Oid[];
  readonly capabilities: Capabilities;
}

/** A protocol v2 capability advertisement. */
export interface CapabilityAdvertisement {
  readonly version: 2;
  readonly service?: GitService;
  readonly capabilities: Capabilities;
}

/** A decoded `info/refs` body. */
export type Advertisement = RefAdvertisement | CapabilityAdvertisement;

/** Options shared by the advertisement decoder and filter. */
export interface AdvertisementOptions {
  /** The service the client asked for; a `# service=` header naming another is refused. */
  readonly service: GitService;
}

/** Options of filterAdvertisement. */
export interface FilterOptions extends AdvertisementOptions {
  /**
   * For git-receive-pack: capabilities the gateway serves itself, added when the upstream does not
   * advertise them (flags of RECEIVE_PACK_CAPABILITIES, e.g. `push-options`, which git needs
   * advertised before it sends `git push -o …` at all).
   */
  readonly ownPushCapabilities?: readonly string[];
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Decodes a whole advertisement (the refs are kept in memory: for tests, mirrors and records, not for relaying). */
export async function decodeAdvertisement(source: AsyncIterable<Uint8Array>, options: AdvertisementOptions): Promise<Advertisement> {
  const reader = new PktLineReader(source);
  const prologue = await readPrologue(reader, options);
  if (prologue.kind === 'v2') {
    const entries = [];
    for (;;) {
      const line = await nextLine(reader, 'a capability or the flush');
      if (line === undefined) break;
      entries.push(parseCapability(line.text));
    }
    const capabilities = new Capabilities(entries);
    checkObjectFormat(capabilities);
    await expectEnd(reader);
    return { version: 2, ...serviceField(prologue.service), capabilities };
  }

  const refs = new Map<string, Oid>();
  const peeled = new Map<string, Oid>();
  const haves: Oid[] = [];
  const shallow: Oid[] = [];
  let capabilities = new Capabilities();
  let line = prologue.first;
  if (line !== undefined) {
    const first = parseFirstRefLine(line.text, line.offset);
    capabilities = Capabilities.parse(first.capabilities);
    checkObjectFormat(capabilities);
    if (!(first.name === 'capabilities^{}' && first.oid === ZERO_OID)) refs.set(first.name, first.oid);
    for (;;) {
      line = await nextLine(reader, 'a ref or the flush');
      if (line === undefined) break;
      if (line.text.startsWith('shallow ')) {
        shallow.push(parseOid(line.text.slice('shallow '.length), line.offset));
        continue;
      }
      const ref = parseRefLine(line.text, line.offset);
      if (ref.name === '.have') haves.push(ref.oid);
      else if (ref.name.endsWith('^{}')) peeled.set(ref.name.slice(0, -3), ref.oid);
      else refs.set(ref.name, ref.oid);
    }
  }
  await expectEnd(reader);
  return { version: prologue.version, ...serviceField(prologue.service), refs, peeled, haves, shallow, capabilities };
}

/** Encodes an advertisement as git's http-backend writes it (for tests and fixtures). */
export function encodeAdvertisement(advertisement: Advertisement): Buffer {
  const parts: Buffer[] = [];
  if (advertisement.service) parts.push(encodePkt(`# service=${advertisement.service}\n`), FLUSH);
  if (advertisement.version === 2) {
    parts.push(encodePkt('version 2\n'));
    for (const entry of advertisement.capabilities.entries) parts.push(encodePkt(`${formatCapability(entry)}\n`));
    parts.push(FLUSH);
    return Buffer.concat(parts);
  }
  if (advertisement.version === 1) parts.push(encodePkt('version 1\n'));
  const caps = advertisement.capabilities.toString();
  let first = true;
  const line = (oid: Oid, name: string): void => {
    parts.push(encodePkt(first ? `${oid} ${name}\0${caps}\n` : `${oid} ${name}\n`));
    first = false;
  };
  if (advertisement.refs.size === 0 && advertisement.capabilities.entries.length > 0) line(ZERO_OID, 'capabilities^{}');
  for (const [name, oid] of advertisement.refs) {
    line(oid, name);
    const peeled = advertisement.peeled.get(name);
    if (peeled !== undefined) line(peeled, `${name}^{}`);
  }
  for (const [name, oid] of advertisement.peeled) if (!advertisement.refs.has(name)) line(oid, `${name}^{}`);
  for (const oid of advertisement.haves) line(oid, '.have');
  for (const oid of advertisement.shallow) parts.push(encodePkt(`shallow ${oid}\n`));
  parts.push(FLUSH);
  return Buffer.concat(parts);
}

/** What the filter saw and did. */
export interface AdvertisementSummary {
  readonly version: 0 | 1 | 2;
  /** The capabilities as forwarded to the client. */
  readonly capabilities: Capabilities;
  /** Capability tokens removed from the upstream's list. */
  readonly removed: readonly string[];
  /** Capability tokens the gateway added (`ownPushCapabilities` the upstream did not advertise). */
  readonly added: readonly string[];
}

/** A checked advertisement: its summary, and the bytes to send the client. */
export interface FilteredAdvertisement {
  readonly summary: AdvertisementSummary;
  /** The (possibly rewritten) packets read so far, then the untouched rest of the upstream's stream. */
  readonly body: AsyncIterable<Buffer>;
}

/**
 * Checks an upstream's advertisement and prepares it for the client, byte for byte except for the
 * capability list, holding only the packets up to the capabilities (the refs after them can be
 * megabytes and are streamed through untouched):
 *
 * - refuses any object format but SHA-1 (PROTO_UNSUPPORTED_OBJECT_FORMAT), for both services;
 * - for git-receive-pack, keeps only RECEIVE_PACK_CAPABILITIES: `push-cert=<nonce>` goes because
 *   the gateway re-encodes the command list it relays and so cannot carry a signed certificate,
 *   and any capability pushgate does not know goes because it might change the request or the
 *   report in ways the gateway does not parse (a server must not advertise what it does not
 *   understand, and to the client pushgate is the server); then adds `ownPushCapabilities` the
 *   upstream lacks: to the client pushgate is the server, and it serves those itself (a client
 *   "MUST NOT send" push options a server did not advertise, gitprotocol-capabilities(5)
 *   "push-options"); protocol v2 is refused for push;
 * - for git-upload-pack, passes everything else through untouched: fetches are relayed, not parsed.
 *
 * It resolves once the capabilities are checked and rejects before a single byte is produced, so
 * the gateway can still answer an HTTP status. An `ERR` packet from the upstream in that part is
 * PKT_ERR_PACKET; one further on is passed through like any other packet.
 */
export async function filterAdvertisement(source: AsyncIterable<Uint8Array>, options: FilterOptions): Promise<FilteredAdvertisement> {
  const reader = new PktLineReader(source);
  const out: Buffer[] = [];
  // Called right after `pkt` was read, so the reader's last header is this packet's, as it was on the wire.
  const passOn = (pkt: Pkt): void => {
    out.push(Buffer.from(reader.lastHeader, 'latin1'));
    if (pkt.kind === 'data') out.push(pkt.payload);
  };
  const { service } = options;
  let summary: AdvertisementSummary;
  const prologue = await readPrologue(reader, options, passOn);
  if (prologue.kind === 'v2') {
    if (service === 'git-receive-pack') {
      throw new ProtocolError('PROTO_UNSUPPORTED_VERSION', 'the upstream offers protocol v2 for git-receive-pack, which pushgate does not speak', {
        expected: [0, 1],
        actual: 2,
      });
    }
    const entries = [];
    for (;;) {
      const line = await nextLine(reader, 'a capability or the flush');
      if (line === undefined) break;
      const entry = parseCapability(line.text);
      if (entry.name === 'object-format') checkObjectFormat(new Capabilities([entry]));
      entries.push(entry);
      passOn(line.pkt);
    }
    passOn({ kind: 'flush' });
    summary = { version: 2, capabilities: new Capabilities(entries), removed: [], added: [] };
  } else if (prologue.first === undefined) {
    summary = { version: prologue.version, capabilities: new Capabilities(), removed: [], added: [] };
  } else {
    const { text, offset, pkt } = prologue.first;
    const first = parseFirstRefLine(text, offset);
    const upstream = Capabilities.parse(first.capabilities);
    checkObjectFormat(upstream);
    if (service === 'git-receive-pack') {
      const tokens = first.capabilities.split(' ');
      const kept = tokens.filter((t) => t.length === 0 || supportedForPush(t));
      const removed = tokens.filter((t) => t.length > 0 && !supportedForPush(t));
      const names = new Set(kept.map((t) => parseCapability(t).name));
      const added = (options.ownPushCapabilities ?? []).filter((c) => !names.has(c));
      kept.push(...added);
      if (removed.length > 0 || added.length > 0) {
        const payload = chompLf(pkt.payload);
        const lf = payload.length < pkt.payload.length ? '\n' : '';
        const nul = payload.indexOf(0);
        out.push(encodePkt(Buffer.concat([payload.subarray(0, nul + 1), Buffer.from(`${kept.join(' ')}${lf}`, 'latin1')])));
      } else {
        passOn(pkt);
      }
      summary = { version: prologue.version, capabilities: Capabilities.parse(kept.join(' ')), removed, added };
    } else {
      passOn(pkt);
      summary = { version: prologue.version, capabilities: upstream, removed: [], added: [] };
    }
  }
  const head = Buffer.concat(out);
  const rest = reader.remainder();
  return {
    summary,
    body: {
      async *[Symbol.asyncIterator]() {
        yield head;
        for await (const chunk of rest) {
          yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        }
      },
    },
  };
}

function supportedForPush(token: string): boolean {
  const { name, value } = parseCapability(token);
  if (name === 'object-format') return value === 'sha1';
  return Object.hasOwn(RECEIVE_PACK_CAPABILITIES, name);
}

type Line = { readonly text: string; readonly offset: number; readonly pkt: Extract<Pkt, { kind: 'data' }> };

type Prologue =
  | { readonly kind: 'v2'; readonly service?: GitService }
  /** `first` is the first ref line, or undefined when the ref list is empty (a flush right away). */
  | { readonly kind: 'refs'; readonly version: 0 | 1; readonly service?: GitService; readonly first: Line | undefined };

/** Reads the optional service header, the optional version line, and the first line after them. */
async function readPrologue(reader: PktLineReader, options: AdvertisementOptions, passOn: (pkt: Pkt) => void = () => {}): Promise<Prologue> {
  let service: GitService | undefined;
  let line = await nextLine(reader, 'the advertisement');
  if (line?.text.startsWith('# service=')) {
    const named = line.text.slice('# service='.length);
    if (named !== options.service) {
      throw new ProtocolError('PROTO_BAD_ADVERTISEMENT', `advertisement is for ${JSON.stringify(named)}, not ${options.service}`, {
        expected: options.service,
        actual: named,
      });
    }
    service = options.service;
    passOn(line.pkt);
    const flush = await nextLine(reader, 'the flush after the service line');
    if (flush !== undefined) {
      throw new ProtocolError('PROTO_BAD_ADVERTISEMENT', `expected a flush after the service line at byte offset ${flush.offset}`, {
        offset: flush.offset,
        expected: 'flush-pkt',
        actual: flush.text,
      });
    }
    passOn({ kind: 'flush' });
    line = await nextLine(reader, 'the refs');
  }
  let version: 0 | 1 = 0;
  if (line?.text.startsWith('version ')) {
    const named = line.text.slice('version '.length);
    if (named !== '1' && named !== '2') {
      throw new ProtocolError('PROTO_UNSUPPORTED_VERSION', `advertisement is for protocol version ${JSON.stringify(named)}`, {
        offset: line.offset,
        expected: ['0', '1', '2'],
        actual: named,
      });
    }
    passOn(line.pkt);
    if (named === '2') return { kind: 'v2', ...serviceField(service) };
    version = 1;
    line = await nextLine(reader, 'the refs');
  }
  if (line === undefined) passOn({ kind: 'flush' });
  return { kind: 'refs', version, ...serviceField(service), first: line };
}

/** The next data line (its LF removed), or undefined at a flush. */
async function nextLine(reader: PktLineReader, what: string): Promise<Line | undefined> {
  const offset = reader.position;
  const pkt = await reader.read();
  if (!pkt) throw new ProtocolError('PROTO_TRUNCATED', `advertisement ends at byte offset ${offset} before ${what}`, { offset });
  if (pkt.kind === 'flush') return undefined;
  if (pkt.kind !== 'data') {
    throw new ProtocolError('PROTO_BAD_ADVERTISEMENT', `${pkt.kind} packet at byte offset ${offset} in an advertisement`, { offset, actual: pkt.kind });
  }
  const err = errPacketMessage(pkt);
  if (err !== undefined) throw new PktLineError('PKT_ERR_PACKET', `the upstream reported an error: ${err}`, { offset, message: err });
  return { text: chompLf(pkt.payload).toString('utf8'), offset, pkt };
}

function parseFirstRefLine(text: string, offset: number): { oid: Oid; name: string; capabilities: string } {
  const nul = text.indexOf('\0');
  const ref = parseRefLine(nul < 0 ? text : text.slice(0, nul), offset);
  return { ...ref, capabilities: nul < 0 ? '' : text.slice(nul + 1) };
}

function parseRefLine(text: string, offset: number): { oid: Oid; name: string } {
  const space = text.indexOf(' ');
  if (space < 0 || space === text.length - 1) {
    throw new ProtocolError('PROTO_BAD_ADVERTISEMENT', `advertised ref at byte offset ${offset} is not "<id> <name>": ${JSON.stringify(text.slice(0, 200))}`, {
      offset,
      actual: text.slice(0, 200),
    });
  }
  return { oid: parseOid(text.slice(0, space), offset), name: text.slice(space + 1) };
}

function parseOid(text: string, offset: number): Oid {
  // gitprotocol-pack(5): both sides "MUST treat obj-id as case-insensitive".
  const oid = text.toLowerCase();
  if (isOid(oid)) return oid;
  if (SHA256_HEX.test(oid)) {
    throw new ProtocolError('PROTO_UNSUPPORTED_OBJECT_FORMAT', 'SHA-256 repositories are not supported', { offset, expected: 'sha1', actual: 'sha256' });
  }
  throw new ProtocolError('PROTO_BAD_ADVERTISEMENT', `advertised id at byte offset ${offset} is not an object id: ${JSON.stringify(text.slice(0, 80))}`, {
    offset,
    actual: text.slice(0, 80),
  });
}

function checkObjectFormat(capabilities: Capabilities): void {
  // The first object-format is the one the repository uses (gitprotocol-capabilities(5)).
  const format = capabilities.objectFormat;
  if (format !== 'sha1') {
    throw new ProtocolError('PROTO_UNSUPPORTED_OBJECT_FORMAT', 'SHA-256 repositories are not supported', { expected: 'sha1', actual: format });
  }
}

async function expectEnd(reader: PktLineReader): Promise<void> {
  const offset = reader.position;
  if ((await reader.peek(1)).length > 0) {
    throw new ProtocolError('PROTO_BAD_ADVERTISEMENT', `bytes after the advertisement's final flush at byte offset ${offset}`, { offset });
  }
}

function serviceField(service: GitService | undefined): { service?: GitService } {
  return service === undefined ? {} : { service };
}
