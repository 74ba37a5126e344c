/** Errors in git protocol messages: each code names one way a request, report or advertisement can be wrong. */
import { PushgateError } from '@pushgate/core';
import { REQUEST_PARSE_DELIVERY } from '@pushgate/pktline';

/** The codes of ProtocolError (listed in docs/ERRORS.md). */
export type ProtocolErrorCode =
  /** A command that is not `<old-id> SP <new-id> SP <ref>`, a capability list after the first command, or a special packet where a command belongs. */
  | 'PROTO_BAD_COMMAND'
  /** A ref name git's receive-pack would refuse as a "funny refname". */
  | 'PROTO_BAD_REF_NAME'
  /** The same ref named by two commands of one push. */
  | 'PROTO_DUPLICATE_REF'
  /** A flush (or an empty body) where the first command was expected. */
  | 'PROTO_NO_COMMANDS'
  /** Push options sent although the push-options capability was not requested. */
  | 'PROTO_UNEXPECTED_PUSH_OPTIONS'
  /** A push option that is not one line of UTF-8 text. */
  | 'PROTO_BAD_PUSH_OPTION'
  /** Bytes after a delete-only push, which carries no pack. */
  | 'PROTO_UNEXPECTED_DATA'
  /** A malformed `shallow <id>` line, or one after the commands. */
  | 'PROTO_BAD_SHALLOW'
  /** The stream ends before the message does. */
  | 'PROTO_TRUNCATED'
  /** A signed push (push-cert), which pushgate cannot relay. */
  | 'PROTO_PUSH_CERT_UNSUPPORTED'
  /** An object format other than SHA-1. */
  | 'PROTO_UNSUPPORTED_OBJECT_FORMAT'
  /** A malformed capability list (bad token, missing value, both side-band modes). */
  | 'PROTO_BAD_CAPABILITY'
  /** A requested capability that pushgate does not advertise. */
  | 'PROTO_UNSUPPORTED_CAPABILITY'
  /** A malformed report-status. */
  | 'PROTO_BAD_REPORT'
  /** A report-status longer than the reader's bound (a report is one short line per ref). */
  | 'PROTO_REPORT_TOO_LARGE'
  /** A malformed ref advertisement. */
  | 'PROTO_BAD_ADVERTISEMENT'
  /** A protocol version pushgate does not speak for this service. */
  | 'PROTO_UNSUPPORTED_VERSION';

/** A malformed protocol message; `data` says where (`offset`, `line`, `ref`) and what was expected. */
export class ProtocolError extends PushgateError<ProtocolErrorCode, Record<string, unknown>> {
  constructor(code: ProtocolErrorCode, message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, { data, cause, delivery: REQUEST_PARSE_DELIVERY });
  }
}
