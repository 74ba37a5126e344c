/**
 * The body of a `git-receive-pack` POST up to the pack (gitprotocol-pack(5) "Reference Update
 * Request and Packfile Transfer"):
 *
 *   update-requests = *shallow ( command-list | push-cert )
 *   shallow         = PKT-LINE("shallow" SP obj-id)
 *   command-list    = PKT-LINE(command NUL capability-list) *PKT-LINE(command) flush-pkt
 *   command         = create / delete / update        ; old-id SP new-id SP name
 *   delete          = old-id SP zero-id SP name         ; old-id zero too: the ref does not exist
 *   push-options    = *PKT-LINE(push-option) flush-pkt ; only when "push-options" was requested
 *   packfile        = "PACK" 28*(OCTET)                ; absent when every command is a delete
 *
 * Decoding is strict where the gateway re-encodes what it read (it relays exactly these commands
 * upstream, so anything it could not represent must be refused, not dropped), and lenient where
 * git's receive-pack is: a trailing LF on any line is optional.
 */
import { ZERO_OID, checkLimit, isOid, type Limits, type Oid, type RefUpdate } from '@pushgate/core';
import { FLUSH, PktLineError, REQUEST_PARSE_DELIVERY, chompLf, encodePkt, errPacketMessage, type Pkt, type PktLineReader } from '@pushgate/pktline';
import { Capabilities, formatCapability, parseCapability, type CapabilityEntry } from './capabilities';
import { ProtocolError } from './errors';
import { checkRefName } from './refname';

/** A decoded push request: everything before the pack. */
export interface ReceivePackRequest {
  readonly commands: readonly RefUpdate[];
  readonly capabilities: Capabilities;
  /** Commits the pushing repository has without their parents (it is a shallow clone). */
  readonly shallow: readonly Oid[];
  /** The push-options section; empty when push-options was not requested. */
  readonly pushOptions: readonly string[];
}

/** Whether a capability takes a value (`agent=git/2.39.5`) or is a bare flag. */
type CapabilityShape = 'flag' | 'value';

/**
 * The capabilities pushgate advertises for receive-pack and accepts in a push request. A
 * capability outside this list could change the request or the report in ways the gateway does
 * not parse, so the advertisement filter removes it and the decoder refuses it.
 */
export const RECEIVE_PACK_CAPABILITIES: Readonly<Record<string, CapabilityShape>> = Object.freeze({
  'report-status': 'flag',
  'report-status-v2': 'flag',
  'side-band': 'flag',
  'side-band-64k': 'flag',
  quiet: 'flag',
  atomic: 'flag',
  'push-options': 'flag',
  'ofs-delta': 'flag',
  'delete-refs': 'flag',
  // Server-side only ("do not send thin packs"); pushgate resolves thin and thick packs alike.
  'no-thin': 'flag',
  agent: 'value',
  'session-id': 'value',
  'object-format': 'value',
});

const CAPABILITY_NAME = /^[a-z0-9_-]+$/;
// agent and session-id values: "printable ASCII characters except space" (gitprotocol-capabilities(5)).
const CAPABILITY_VALUE = /^[\x21-\x7e]*$/;
// ignoreBOM keeps a leading U+FEFF instead of silently dropping it, so decoded text re-encodes to the same bytes.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads the commands, capabilities, shallow lines and push options of a receive-pack request,
 * leaving `reader` at the first byte of the pack (take it with `reader.remainder()`).
 *
 * A body with no commands (empty, or only shallow lines and a flush) is PROTO_NO_COMMANDS. git's
 * receive-pack reads such a body as "nothing to do" and answers with nothing at all (git 2.39
 * itself does not even POST when everything is up to date), so the gateway should answer it the
 * same way, an empty 200 response, relaying nothing and recording a no-op, rather than show the
 * client an error for what is not one.
 */
export async function decodeReceivePackRequest(reader: PktLineReader, limits: Limits): Promise<ReceivePackRequest> {
  const shallow: Oid[] = [];
  const commands: RefUpdate[] = [];
  const refs = new Set<string>();
  let capabilities = new Capabilities();
  let sawAny = false;

  for (let line = 0; ; line++) {
    const offset = reader.position;
    const pkt = await reader.read();
    if (!pkt) {
      if (!sawAny) throw noCommands(shallow.length);
      throw new ProtocolError('PROTO_TRUNCATED', `request ends at byte offset ${offset} before the flush that ends the command list`, {
        offset,
        expected: 'flush-pkt',
      });
    }
    sawAny = true;
    if (pkt.kind === 'flush') break;
    // git reads these lines with PACKET_READ_CHOMP_NEWLINE: one LF at the end of the packet is optional.
    const payload = chompLf(dataPayload(pkt, offset, 'a command'));

    if (startsWithAscii(payload, 'shallow ')) {
      if (commands.length > 0) {
        throw new ProtocolError('PROTO_BAD_SHALLOW', `shallow line at byte offset ${offset} after the first command`, { offset, line });
      }
      const oid = payload.subarray('shallow '.length).toString('latin1');
      if (!isOid(oid)) {
        throw new ProtocolError('PROTO_BAD_SHALLOW', `shallow line at byte offset ${offset} names ${JSON.stringify(oid)}, not a 40-hex lowercase object id`, {
          offset,
          line,
          actual: oid,
        });
      }
      checkLimit(limits, 'maxShallow', shallow.length + 1, 'shallow lines in one push', REQUEST_PARSE_DELIVERY);
      shallow.push(oid);
      continue;
    }
    if (startsWithAscii(payload, 'push-cert\0') || payload.equals(Buffer.from('push-cert'))) {
      throw new ProtocolError('PROTO_PUSH_CERT_UNSUPPORTED', 'signed pushes (push certificates) are not supported through pushgate', {
        offset,
        line,
      });
    }

    let commandBytes = payload;
    const nul = payload.indexOf(0);
    if (nul >= 0) {
      if (commands.length > 0) {
        throw new ProtocolError('PROTO_BAD_COMMAND', `command at byte offset ${offset} carries a capability list; only the first command may`, {
          offset,
          line,
        });
      }
      capabilities = parseRequestCapabilities(payload.subarray(nul + 1).toString('latin1'), offset);
      commandBytes = payload.subarray(0, nul);
    }
    const command = parseCommand(commandBytes, offset, line);
    if (refs.has(command.ref)) {
      throw new ProtocolError('PROTO_DUPLICATE_REF', `ref ${command.ref} is updated twice in one push (second time at byte offset ${offset})`, {
        offset,
        line,
        ref: command.ref,
      });
    }
    refs.add(command.ref);
    checkLimit(limits, 'maxCommands', commands.length + 1, 'ref updates in one push', REQUEST_PARSE_DELIVERY);
    commands.push(command);
  }
  if (commands.length === 0) throw noCommands(shallow.length);

  const pushOptions: string[] = [];
  if (capabilities.pushOptions) {
    for (;;) {
      const offset = reader.position;
      const pkt = await reader.read();
      if (!pkt) {
        throw new ProtocolError('PROTO_TRUNCATED', `request ends at byte offset ${offset} inside the push options`, {
          offset,
          expected: 'flush-pkt',
        });
      }
      if (pkt.kind === 'flush') break;
      const payload = chompLf(dataPayload(pkt, offset, 'a push option'));
      let option: string;
      try {
        option = utf8.decode(payload);
      } catch (e) {
        throw new ProtocolError('PROTO_BAD_PUSH_OPTION', `push option at byte offset ${offset} is not valid UTF-8`, { offset }, e);
      }
      if (/[\0\r\n]/.test(option)) {
        throw new ProtocolError('PROTO_BAD_PUSH_OPTION', `push option at byte offset ${offset} is not a single line`, { offset, actual: option });
      }
      checkLimit(limits, 'maxPushOptions', pushOptions.length + 1, 'push options in one push', REQUEST_PARSE_DELIVERY);
      pushOptions.push(option);
    }
  }

  const request: ReceivePackRequest = { commands, capabilities, shallow, pushOptions };
  await checkWhatFollows(reader, request);
  return request;
}

/** True when the request must be followed by a pack: some command creates or updates a ref. */
export function expectsPack(request: Pick<ReceivePackRequest, 'commands'>): boolean {
  return request.commands.some((c) => c.newOid !== ZERO_OID);
}

/**
 * The pkt-lines of a request (shallow lines, commands with the capabilities on the first, flush,
 * push options and their flush when push-options is requested), framed as git's send-pack frames
 * them, so a request from git encodes back to the same bytes. The pack is not included.
 */
export function encodeReceivePackRequest(request: ReceivePackRequest): Buffer {
  if (request.commands.length === 0) throw new ProtocolError('PROTO_NO_COMMANDS', 'a request needs at least one command');
  if (!request.capabilities.pushOptions && request.pushOptions.length > 0) {
    throw new ProtocolError('PROTO_UNEXPECTED_PUSH_OPTIONS', 'push options need the push-options capability', {
      actual: request.pushOptions.length,
    });
  }
  const parts: Buffer[] = [];
  for (const oid of request.shallow) {
    if (!isOid(oid)) throw new ProtocolError('PROTO_BAD_SHALLOW', `cannot encode shallow id ${JSON.stringify(oid)}`, { actual: oid });
    // send-pack.c advertise_shallow_grafts_cb() ends shallow lines with LF, command lines without.
    parts.push(encodePkt(`shallow ${oid}\n`));
  }
  request.commands.forEach((command, i) => {
    validateCommand(command);
    const line = `${command.oldOid} ${command.newOid} ${command.ref}`;
    // send-pack writes " cap" for each capability, so the list after the NUL starts with a space.
    parts.push(encodePkt(i === 0 ? `${line}\0${request.capabilities.entries.map((e) => ` ${formatCapability(e)}`).join('')}` : line));
  });
  parts.push(FLUSH);
  if (request.capabilities.pushOptions) {
    for (const option of request.pushOptions) {
      if (/[\0\r\n]/.test(option)) throw new ProtocolError('PROTO_BAD_PUSH_OPTION', 'cannot encode a push option that is not a single line', { actual: option });
      parts.push(encodePkt(option));
    }
    parts.push(FLUSH);
  }
  return Buffer.concat(parts);
}

/** Parses and validates the capability list of the first command. */
export function parseRequestCapabilities(list: string, offset = 0): Capabilities {
  const entries: CapabilityEntry[] = [];
  for (const token of list.split(' ')) {
    if (token.length === 0) continue;
    const entry = parseCapability(token);
    if (!CAPABILITY_NAME.test(entry.name) || (typeof entry.value === 'string' && !CAPABILITY_VALUE.test(entry.value))) {
      throw new ProtocolError('PROTO_BAD_CAPABILITY', `malformed capability ${JSON.stringify(token)} in the request at byte offset ${offset}`, {
        offset,
        actual: token,
      });
    }
    const shape = RECEIVE_PACK_CAPABILITIES[entry.name];
    if (shape === undefined) {
      throw new ProtocolError('PROTO_UNSUPPORTED_CAPABILITY', `capability ${JSON.stringify(entry.name)} is not supported by pushgate`, {
        offset,
        actual: entry.name,
        expected: Object.keys(RECEIVE_PACK_CAPABILITIES),
      });
    }
    if ((shape === 'value') !== (typeof entry.value === 'string')) {
      throw new ProtocolError(
        'PROTO_BAD_CAPABILITY',
        `capability ${entry.name} ${shape === 'value' ? 'needs a value' : 'takes no value'} (got ${JSON.stringify(token)})`,
        { offset, actual: token },
      );
    }
    entries.push(entry);
  }
  const capabilities = new Capabilities(entries);
  if (capabilities.has('side-band') && capabilities.has('side-band-64k')) {
    // gitprotocol-capabilities(5): "Server MUST diagnose it as an error if client requests both."
    throw new ProtocolError('PROTO_BAD_CAPABILITY', 'the request asks for both side-band and side-band-64k', { offset });
  }
  for (const format of capabilities.getAll('object-format')) {
    if (format !== 'sha1') {
      throw new ProtocolError('PROTO_UNSUPPORTED_OBJECT_FORMAT', 'SHA-256 repositories are not supported', {
        offset,
        expected: 'sha1',
        actual: format,
      });
    }
  }
  return capabilities;
}

function parseCommand(text: Buffer, offset: number, line: number): RefUpdate {
  // old-id SP new-id SP name: the ids are ASCII, so their bytes can be read one to one.
  const oldOid = text.subarray(0, 40).toString('latin1');
  const newOid = text.subarray(41, 81).toString('latin1');
  if (text.length < 83 || text[40] !== 0x20 || text[81] !== 0x20 || !isOid(oldOid) || !isOid(newOid)) {
    throw new ProtocolError(
      'PROTO_BAD_COMMAND',
      `command at byte offset ${offset} is not "<old-id> <new-id> <ref>" with 40-hex lowercase ids: ${JSON.stringify(preview(text))}`,
      { offset, line, expected: '<old-id> SP <new-id> SP <ref>', actual: preview(text) },
    );
  }
  if (text.indexOf(0x20, 82) >= 0) {
    throw new ProtocolError('PROTO_BAD_COMMAND', `command at byte offset ${offset} has more than three fields: ${JSON.stringify(preview(text))}`, {
      offset,
      line,
      expected: '<old-id> SP <new-id> SP <ref>',
      actual: preview(text),
    });
  }
  let ref: string;
  try {
    ref = utf8.decode(text.subarray(82));
  } catch (e) {
    throw new ProtocolError('PROTO_BAD_REF_NAME', `ref name in the command at byte offset ${offset} is not valid UTF-8`, { offset, line }, e);
  }
  const check = checkRefName(ref);
  if (!check.ok) {
    throw new ProtocolError('PROTO_BAD_REF_NAME', `funny refname ${JSON.stringify(ref)}: it ${check.reason}`, { offset, line, ref, reason: check.reason });
  }
  // Zero old and new ids are accepted as a delete: git sends them for `git push <remote>
  // :refs/heads/<name>` when the remote does not have the ref, and its receive-pack answers with
  // a warning and `ok`. The gateway relays the command and lets the upstream answer the same way.
  return { ref, oldOid, newOid };
}

function validateCommand(command: RefUpdate): void {
  if (!isOid(command.oldOid) || !isOid(command.newOid)) {
    throw new ProtocolError('PROTO_BAD_COMMAND', `cannot encode the command for ${command.ref}: bad ids`, { ref: command.ref });
  }
  const check = checkRefName(command.ref);
  if (!check.ok) throw new ProtocolError('PROTO_BAD_REF_NAME', `cannot encode ref ${JSON.stringify(command.ref)}: it ${check.reason}`, { ref: command.ref });
}

/** After the commands: the pack when one is due, nothing after a delete-only push. */
async function checkWhatFollows(reader: PktLineReader, request: ReceivePackRequest): Promise<void> {
  const offset = reader.position;
  const next = await reader.peek(4);
  const pktLike = next.length === 4 && /^[0-9a-fA-F]{4}$/.test(next.toString('latin1'));
  if (pktLike && !request.capabilities.pushOptions) {
    // Without the capability the client must go straight to the pack; pkt-lines here are
    // push options (or something else) that git's receive-pack would misread as pack data.
    throw new ProtocolError('PROTO_UNEXPECTED_PUSH_OPTIONS', `pkt-lines at byte offset ${offset} after the commands, but push-options was not requested`, {
      offset,
    });
  }
  if (expectsPack(request)) {
    if (next.length === 0) {
      throw new ProtocolError('PROTO_TRUNCATED', `request ends at byte offset ${offset}: a pack must follow the commands`, {
        offset,
        expected: 'PACK',
      });
    }
    // Anything else that is not a pack is for the pack scanner to name (PACK_BAD_SIGNATURE).
    return;
  }
  if (next.length > 0) {
    throw new ProtocolError('PROTO_UNEXPECTED_DATA', `bytes at byte offset ${offset} after a push that only deletes refs, which carries no pack`, {
      offset,
    });
  }
}

function dataPayload(pkt: Pkt, offset: number, what: string): Buffer {
  if (pkt.kind !== 'data') {
    throw new ProtocolError('PROTO_BAD_COMMAND', `${pkt.kind} packet at byte offset ${offset} where ${what} was expected`, {
      offset,
      actual: pkt.kind,
    });
  }
  const message = errPacketMessage(pkt);
  if (message !== undefined) {
    // git's receive-pack reads its request with PACKET_READ_DIE_ON_ERR_PACKET: the client gave up.
    throw new PktLineError('PKT_ERR_PACKET', `the client reported an error: ${message}`, { offset, message });
  }
  return pkt.payload;
}

function noCommands(shallow: number): ProtocolError {
  return new ProtocolError('PROTO_NO_COMMANDS', 'the push request contains no commands', { shallow });
}

function startsWithAscii(buf: Buffer, prefix: string): boolean {
  return buf.length >= prefix.length && buf.toString('latin1', 0, prefix.length) === prefix;
}

function preview(bytes: Buffer): string {
  return bytes.subarray(0, 200).toString('utf8');
}
