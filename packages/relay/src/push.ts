/**
 * Relaying a push as a function of the push itself, not of any client connection
 * (gitprotocol-pack(5) "Reference Update Request and Packfile Transfer", "Report Status";
 * gitprotocol-http(5) "Smart Service git-receive-pack"): the live push, an approved hold and a
 * retry all call `relayPush` with the commands, the pack as a stream and the options to send;
 * the gateway sends the capabilities it needs itself (report-status, side-band-64k for the
 * upstream's progress) whatever the client asked, reads the upstream's whole answer, and returns
 * it parsed. The client's answer (if a client is still there) is encoded from that.
 *
 * CONTRACT — implemented in the relay change; signatures are what other packages build on.
 */
import type { Oid, RefUpdate } from '@pushgate/core';
import type { Capabilities } from '@pushgate/protocol';
import type { UpstreamError } from './errors';
import type { Upstream } from './upstream';

/** The upstream's receive-pack advertisement: its refs and the capabilities it offers for push. */
export interface ReceivePackAdvertisement {
  readonly refs: ReadonlyMap<string, Oid>;
  readonly capabilities: Capabilities;
}

/** A push to send upstream, complete: nothing here refers to a client connection. */
export interface StoredPush {
  readonly upstream: Upstream;
  readonly repoPath: string;
  /** The commands with their old ids (the upstream's compare-and-swap applies them). */
  readonly commands: readonly RefUpdate[];
  /** Ask for an atomic push (sent only when the upstream advertises `atomic`). */
  readonly atomic: boolean;
  /**
   * Push options to pass on, the gateway's own already removed; sent only when the upstream
   * advertises `push-options` (otherwise dropped, and `droppedPushOptions` says so).
   */
  readonly pushOptions: readonly string[];
  /** The pack, opened when it is sent (and again on a retry); absent for a push that only deletes. */
  readonly pack: { readonly bytes: number; open(): AsyncIterable<Uint8Array> } | undefined;
  /** What the upstream advertised, when already known (read first otherwise). */
  readonly advertised?: ReceivePackAdvertisement;
  /** Sent as X-Request-Id. */
  readonly requestId?: string;
  /** The upstream's progress text (band 2) as it arrives, for a client still listening. */
  readonly onProgress?: (text: string) => void;
  /** Only for shutting the process down: a relay is never aborted because a client left. */
  readonly signal?: AbortSignal;
}

/** The upstream's parsed answer. */
export type RelayResult =
  /** A report-status: unpack result and each ref's outcome, with the upstream's `remote:` lines. */
  | {
      readonly kind: 'report';
      readonly unpack: string;
      readonly refs: readonly ({ readonly ref: string; readonly status: 'ok' } | { readonly ref: string; readonly status: 'ng'; readonly reason: string })[];
      readonly messages: readonly string[];
      readonly droppedPushOptions: boolean;
    }
  /** The upstream aborted the push (band 3 or `ERR`). */
  | { readonly kind: 'fatal'; readonly message: string; readonly messages: readonly string[] }
  /**
   * No answer could be read: unreachable, timed out, an error status, cut mid-answer. `sent` is
   * false when the request body certainly never reached the upstream (connection refused, or an
   * error status before the body): only then is it certain that nothing was applied.
   */
  | { readonly kind: 'failed'; readonly error: UpstreamError; readonly sent: boolean };

/** Where each of a push's refs is now, compared with the push. */
export interface RefsComparison {
  /** Refs at the push's new id. */
  readonly landed: readonly RefUpdate[];
  /** Refs still at the push's old id. */
  readonly notApplied: readonly RefUpdate[];
  /** Refs at neither: someone else moved them. */
  readonly moved: readonly { readonly ref: string; readonly expected: Oid; readonly actual: Oid }[];
}

/** Reads `info/refs?service=git-receive-pack` from the upstream (gitprotocol-http(5) "Smart Clients"). */
export async function readReceivePackAdvertisement(_upstream: Upstream, _repoPath: string, _signal?: AbortSignal): Promise<ReceivePackAdvertisement> {
  throw new Error('not implemented');
}

/** Sends the push and reads the whole answer (see the module comment). Never throws: failures are `failed`. */
export async function relayPush(_push: StoredPush): Promise<RelayResult> {
  throw new Error('not implemented');
}

/** Compares a push's commands with the upstream's refs (a ref absent from `refs` is at the zero id). */
export function compareRefs(_commands: readonly RefUpdate[], _refs: ReadonlyMap<string, Oid>): RefsComparison {
  throw new Error('not implemented');
}

