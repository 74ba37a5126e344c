/**
 * Hard limits on untrusted input. Every number says where it comes from; every limit has its own
 * error code so an operator can tell from the client's message which one fired and raise it in
 * config (`limits:`) when it is too tight for a legitimate repository.
 */
import { PushgateError, type ClientDelivery } from './errors';

/** The limits a push is held to. */
export interface Limits {
  /** Bytes of pack data in one push. GitHub refuses pushes over 2 GiB; so do we by default. */
  readonly maxPackBytes: number;
  /** Objects in one pack. Sized for a full import of a very large history (linux.git: ~10M objects). */
  readonly maxObjects: number;
  /**
   * Inflated size of any one object, before or after delta resolution. GitHub's hard file limit
   * is 100 MiB; objects must fit in memory for delta resolution, so this also bounds memory.
   */
  readonly maxObjectBytes: number;
  /**
   * Delta chain length. git's pack-objects stores depth in 12 bits (OE_DEPTH_BITS in
   * pack-objects.h), so no pack git writes has a chain longer than 4095; go-git uses the same cap.
   */
  readonly maxDeltaDepth: number;
  /** Ref updates in one push. Ten times GitHub's documented 1,000-ref guidance for a single push. */
  readonly maxCommands: number;
  /** Push options in one push; each is one pkt-line (gitprotocol-pack: push-options). */
  readonly maxPushOptions: number;
  /**
   * `shallow <id>` lines in one push: the commits at the pushing clone's shallow boundary, which
   * the decoder keeps and relays (gitprotocol-pack: update-requests). A `--depth` clone has one per
   * ref tip it fetched, a `--shallow-since` cut one per line of history crossing the date; ten times
   * maxCommands (100,000 lines, 5.3 MB of request) is far beyond either, and bounds the list held.
   */
  readonly maxShallow: number;
  /**
   * Commits that may be inspected for one push; beyond this a push is refused, never skimmed.
   * The change set costs ~0.65 ms a commit (docs/BENCHMARKS.md, Pack inspection: 6,000 commits in
   * ~3.9 s), so 100,000 keeps one push's inspection near a minute, while being five times the
   * 20,000-commit initial push of the benchmarks' large repository.
   */
  readonly maxCommitsInspected: number;
}

/**
 * The largest pkt-line, length header included (gitprotocol-common: LARGE_PACKET_MAX = 65520).
 * A protocol constant, not configurable.
 */
export const MAX_PKT_LINE_BYTES = 65520;

/** The defaults; every one can be changed under `limits:` in the config file. */
export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxPackBytes: 2 * 1024 ** 3,
  maxObjects: 10_000_000,
  maxObjectBytes: 100 * 1024 ** 2,
  maxDeltaDepth: 4095,
  maxCommands: 10_000,
  maxPushOptions: 100,
  maxShallow: 100_000,
  maxCommitsInspected: 100_000,
});

/** Error codes of the limits, one per limit. */
export const LIMIT_CODES = {
  maxPackBytes: 'LIMIT_PACK_BYTES',
  maxObjects: 'LIMIT_OBJECT_COUNT',
  maxObjectBytes: 'LIMIT_OBJECT_SIZE',
  maxDeltaDepth: 'LIMIT_DELTA_DEPTH',
  maxCommands: 'LIMIT_COMMANDS',
  maxPushOptions: 'LIMIT_PUSH_OPTIONS',
  maxShallow: 'LIMIT_SHALLOW',
  maxCommitsInspected: 'LIMIT_COMMITS',
  pktLine: 'LIMIT_PKT_LINE',
} as const;

/** The code of one limit. */
export type LimitCode = (typeof LIMIT_CODES)[keyof typeof LIMIT_CODES];

/**
 * A limit was exceeded by what the client sent. By default it fails the push's `unpack` (and every
 * ref); a limit that fires while the request itself is parsed, before any command list exists to
 * answer with, passes the delivery it needs (pktline's REQUEST_PARSE_DELIVERY, HTTP 400).
 */
export class LimitError extends PushgateError<LimitCode, { limit: string; max: number; actual: number }> {
  constructor(limit: keyof typeof LIMIT_CODES, max: number, actual: number, what: string, delivery?: ClientDelivery) {
    super(LIMIT_CODES[limit], `${what}: ${actual} exceeds the limit of ${max}`, {
      data: { limit, max, actual },
      ...(delivery === undefined ? {} : { delivery }),
    });
  }
}

/** Throws LimitError (delivered as `delivery`, by default `unpack`) when `actual` exceeds `limits[limit]`. */
export function checkLimit(limits: Limits, limit: keyof Limits, actual: number, what: string, delivery?: ClientDelivery): void {
  const max = limits[limit];
  if (actual > max) throw new LimitError(limit, max, actual, what, delivery);
}
