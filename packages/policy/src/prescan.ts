/**
 * Scanning a push's blobs ahead, beside its inspection.
 *
 * Indexing a pack hands every object to its caller once, with its content (deltas resolved): the
 * only time a push's blobs are in memory anyway. A `BlobPrescan` takes each blob there, copies it
 * into a batch and hands full batches to a worker thread that runs the secret scanner on them,
 * while the main thread goes on indexing and building the change set. When the push is judged,
 * `scanContent` asks the prescan first and reads from the pack only what it does not know — so
 * the scan no longer reads every blob version out of the pack a second time, nor runs on the
 * thread that serves other requests, and most of it is done by the time the change set is.
 *
 * What the worker computes is exactly what scanContent would (the same scanner, built from the
 * same policy, on the same bytes); paths, sites, added lines and the decision stay on the main
 * thread. Whatever goes wrong ahead only leaves a blob unknown, and an unknown blob is read and
 * scanned as before, so the prescan can make a push faster but never let anything through:
 *
 * - memory is bounded: at most `maxInFlightBytes` are handed over and not yet scanned; a blob past
 *   that is left for later (counted as `left`);
 * - blobs over MAX_PRESCAN_BLOB_BYTES are left for later (scanContent calls them too large);
 * - a worker that fails or exits ends its sessions with nothing known, and the next push starts
 *   a new one;
 * - a refused push cancels its session, and the worker skips its batches still queued.
 *
 * Most blobs of a push are new versions of files stored as deltas against another version, and
 * most files hold no detector keyword at all. For a blob resolved from a delta whose base was
 * handed over too, only the bytes around the delta's seams (deltaSeams: inserted runs, and joints
 * between copies of distant parts of the base, each widened by the longest keyword) are copied:
 * when the base holds no keyword and neither do those bytes, the blob holds none (a keyword
 * anywhere else lies within one copied run of the base), so it is text without findings, known
 * without its bytes ever crossing over. Otherwise — a base with a keyword, a keyword at a seam —
 * the worker reads the whole blob from the indexed pack and scans it (`indexed`). This keeps most
 * of the 300 MB a large history's push brings in blob versions off the memory bus the inspection
 * shares.
 *
 * One worker serves every push of a gateway: batches are scanned in arrival order. Small packs are
 * not worth the handover, and a small push must not wait behind a large one's batches: whoever
 * calls `begin` decides by size (the gateway prescans packs of 1 MiB or more).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Limits, Oid } from '@pushgate/core';
import { deltaSeams } from '@pushgate/pack';
import { compilePolicy } from './compile';
import type { PolicyConfig } from './config';
import { isBinary, type SecretFinding } from './secrets/index';

/** What a blob's scan found, computed ahead. */
export type PrescannedBlob =
  /**
   * Text, scanned: `findings` (usually none), each with the lines it spans, first and last;
   * `keywordFree` when no detector keyword occurs in it (most files; see SecretScanResult).
   */
  | {
      readonly kind: 'text';
      readonly bytes: number;
      readonly findings: readonly SecretFinding[];
      readonly spans: ReadonlyArray<readonly [number, number]>;
      readonly keywordFree: boolean;
    }
  /** A NUL in the first 8000 bytes: not scanned. */
  | { readonly kind: 'binary'; readonly size: number };

/** The blobs of one push scanned ahead; `get` is undefined for a blob the prescan does not know. */
export interface PrescannedBlobs {
  get(oid: Oid): PrescannedBlob | undefined;
  /** Blobs known, and blobs seen but left for later (over the memory bound, or the worker failed). */
  readonly stats: PrescanStats;
}

export interface PrescanStats {
  readonly blobs: number;
  readonly bytes: number;
  readonly left: number;
  /** Time the worker spent scanning this push's blobs. */
  readonly workerMs: number;
  /** Time the caller's thread spent handing blobs over (copying them into batches). */
  readonly handoverMs: number;
  /** Bytes handed over (whole blobs, and the seams of deltas), and blobs the worker read whole from the pack. */
  readonly handedBytes: number;
  readonly readWhole: number;
}

/** Where the worker reads the blobs it could not be handed: the indexed pack over the mirror. */
export interface PackLocation {
  readonly packPath: string;
  readonly idxPath: string;
  /** The mirror's git directory (a thin pack's delta bases); it must stay as it is until `finish` resolves. */
  readonly mirrorGitDir: string;
  readonly limits: Pick<Limits, 'maxObjectBytes' | 'maxDeltaDepth'>;
}

/** One push's prescan, fed from indexPack's `onObject`. */
export interface BlobPrescan {
  /**
   * Hands over one blob (copied: the caller's buffer is not kept). Cheap; never throws. With the
   * delta it was resolved from (indexPack's `PackObject.delta`), only the bytes around the delta's
   * seams are copied when its base was handed over too (see the module comment).
   */
  add(oid: Oid, data: Uint8Array, delta?: { readonly base: Oid; readonly instructions: Uint8Array }): void;
  /**
   * The pack is indexed: the blobs that found no room in memory are read from it by the worker
   * (which has time while the change set is built), not left for the scan after it.
   */
  indexed(pack: PackLocation): void;
  /** Every blob was added: resolves once the worker scanned them all (never rejects). */
  finish(): Promise<PrescannedBlobs>;
  /** The push will not be judged: its queued batches are skipped. Idempotent. */
  cancel(): void;
}

/** Blobs larger than this are left to scanContent (which refuses over 16 MiB as too large, without reading). */
export const MAX_PRESCAN_BLOB_BYTES = 16 * 1024 * 1024;

export interface BlobScanPoolOptions {
  /** Most bytes handed to the worker and not yet scanned, over every push (default 32 MiB). */
  readonly maxInFlightBytes?: number;
  /** Size of one batch handed over (default 1 MiB). */
  readonly batchBytes?: number;
  /** Told when the worker fails (its sessions then know nothing; scanContent reads everything). */
  readonly onError?: (message: string) => void;
  /** The worker's script; by default the bundle's `prescan-worker.js` (see `prescanWorkerScript`). */
  readonly workerScript?: string;
}

/** Messages to the worker. */
export type ToWorker =
  | {
      readonly kind: 'batch';
      readonly session: number;
      /** Shared with the session: non-zero once it is cancelled. */
      readonly cancelled: Int32Array;
      readonly data: Uint8Array;
      readonly oids: readonly string[];
      /** End offset of each blob in `data`. */
      readonly ends: Uint32Array;
      /**
       * Per blob, the delta base whose keyword-freedom it follows, or null: with a base, the blob's
       * bytes in `data` are only its seam windows (separated by a byte no keyword contains) and
       * `sizes` gives its whole size.
       */
      readonly bases: ReadonlyArray<string | null>;
      readonly sizes: Uint32Array;
    }
  | { readonly kind: 'read'; readonly session: number; readonly cancelled: Int32Array; readonly pack: PackLocation; readonly oids: readonly string[] }
  | { readonly kind: 'end'; readonly session: number };

/** Messages from the worker. */
export type FromWorker =
  /** A batch was scanned: its memory comes back, to be filled again. */
  | { readonly kind: 'ack'; readonly bytes: number; readonly buffer: ArrayBuffer }
  | {
      readonly kind: 'done';
      readonly session: number;
      /** Blobs binary, or in which some keyword occurs (the others are text without a keyword, hence without findings). */
      readonly results: ReadonlyArray<readonly [string, PrescannedBlob]>;
      /** Blobs read from the pack and scanned, with their sizes (those with a finding, or binary, are in results too). */
      readonly read: ReadonlyArray<readonly [string, number]>;
      /** Blobs handed over (as seams) that the worker could not settle nor read: unknown. */
      readonly unknown: readonly string[];
      readonly workerMs: number;
    }
  | { readonly kind: 'failed'; readonly session: number; readonly message: string };

/** What the worker is started with. */
export interface WorkerInit {
  readonly policy: PolicyConfig;
}

const WORKER_FILE = 'prescan-worker.js';

/**
 * Where the worker's script is: beside the running bundle (dist/pushgate.js and
 * dist/prescan-worker.js), or, running from source, in the repository's dist/ (`npm run build`).
 * Undefined when neither exists.
 */
export function prescanWorkerScript(): string | undefined {
  const candidates = [new URL(`./${WORKER_FILE}`, import.meta.url), new URL(`../../../dist/${WORKER_FILE}`, import.meta.url)];
  for (const url of candidates) {
    if (url.protocol !== 'file:') continue;
    const path = fileURLToPath(url);
    if (existsSync(path)) return path;
  }
  return undefined;
}

interface OpenSession {
  resolve(answer: Extract<FromWorker, { kind: 'done' }> | undefined): void;
}

/**
 * The worker thread and the sessions it serves (see the module comment). Started on the first
 * `begin`, restarted after a failure; `close` stops it.
 */
export class BlobScanPool {
  private worker: Worker | undefined;
  private nextSession = 1;
  private readonly open = new Map<number, OpenSession>();
  /** Bytes handed over and not yet acknowledged, over every session. */
  private inFlight = 0;
  /**
   * Batch buffers back from the worker, filled again rather than allocated anew (fresh memory costs
   * its page faults on every push: ~0.3 s for 300 MB of blobs); dropped once no push is prescanning.
   */
  private spare: ArrayBuffer[] = [];
  private active = 0;
  private closed = false;
  readonly maxInFlightBytes: number;
  readonly batchBytes: number;
  /** The policy scanner's longest keyword: how far seam windows reach. */
  readonly keywordReach: number;

  constructor(
    private readonly policy: PolicyConfig,
    private readonly options: BlobScanPoolOptions = {},
  ) {
    this.maxInFlightBytes = options.maxInFlightBytes ?? 32 * 1024 * 1024;
    this.batchBytes = options.batchBytes ?? 1024 * 1024;
    this.keywordReach = compilePolicy(policy).scanner().longestKeyword;
  }

  /** Starts one push's prescan. After `close`, or without a worker script, it knows nothing. */
  begin(): BlobPrescan {
    const worker = this.closed ? undefined : this.ensureWorker();
    if (worker === undefined) return NOTHING_AHEAD;
    this.active++;
    return new Session(this, worker, this.nextSession++);
  }

  /** Stops the worker; open sessions end knowing nothing. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.failAll();
    if (worker !== undefined) await worker.terminate();
  }

  /** @internal Whether `worker` still serves this pool (it was neither lost nor stopped by `close`). */
  serves(worker: Worker): boolean {
    return this.worker === worker;
  }

  /** @internal */ register(id: number, session: OpenSession): void {
    this.open.set(id, session);
  }

  /** @internal */ hasRoom(bytes: number): boolean {
    return this.inFlight + bytes <= this.maxInFlightBytes;
  }

  /** @internal */ sent(bytes: number): void {
    this.inFlight += bytes;
  }

  /** @internal A batch buffer of at least `bytes`. */
  takeBuffer(bytes: number): Buffer {
    const spare = bytes <= this.batchBytes ? this.spare.pop() : undefined;
    // Its own memory (not Node's shared pool): a batch's buffer is moved to the worker, not copied.
    return spare !== undefined ? Buffer.from(spare) : Buffer.allocUnsafeSlow(Math.max(this.batchBytes, bytes));
  }

  /** @internal A session ended (finished or cancelled). */
  ended(): void {
    this.active = Math.max(0, this.active - 1);
    if (this.active === 0) this.spare = [];
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker !== undefined) return this.worker;
    const script = this.options.workerScript ?? prescanWorkerScript();
    if (script === undefined) {
      this.options.onError?.(`the content prescan's worker (${WORKER_FILE}) is missing: run \`npm run build\`; blobs are scanned when the push is judged`);
      this.closed = true;
      return undefined;
    }
    const init: WorkerInit = { policy: this.policy };
    const worker = new Worker(script, { workerData: init });
    // The worker never keeps the process alive; pushes in flight do.
    worker.unref();
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    const lost = (why: string): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.inFlight = 0;
      if (!this.closed) this.options.onError?.(why);
      this.failAll();
    };
    worker.on('error', (e) => lost(`the content prescan's worker failed: ${e.message}`));
    worker.on('exit', (code) => lost(`the content prescan's worker exited (code ${code})`));
    this.worker = worker;
    return worker;
  }

  private onMessage(m: FromWorker): void {
    switch (m.kind) {
      case 'ack':
        this.inFlight = Math.max(0, this.inFlight - m.bytes);
        if (this.active > 0 && m.buffer.byteLength === this.batchBytes && this.spare.length * this.batchBytes < this.maxInFlightBytes) this.spare.push(m.buffer);
        return;
      case 'done':
      case 'failed': {
        const s = this.open.get(m.session);
        if (s === undefined) return;
        this.open.delete(m.session);
        if (m.kind === 'failed') {
          this.options.onError?.(`the content prescan failed: ${m.message}`);
          s.resolve(undefined);
        } else s.resolve(m);
        return;
      }
    }
  }

  private failAll(): void {
    const open = [...this.open.values()];
    this.open.clear();
    for (const s of open) s.resolve(undefined);
  }
}

/** A prescan that knows nothing (no worker): scanContent reads every blob. */
const NOTHING_AHEAD: BlobPrescan = Object.freeze({
  add: () => undefined,
  indexed: () => undefined,
  finish: async (): Promise<PrescannedBlobs> => ({ get: () => undefined, stats: { blobs: 0, bytes: 0, left: 0, workerMs: 0, handoverMs: 0, handedBytes: 0, readWhole: 0 } }),
  cancel: () => undefined,
});

class Session implements BlobPrescan {
  /** Blobs handed over: id → size. */
  private readonly sent = new Map<Oid, number>();
  private readonly cancelled = new Int32Array(new SharedArrayBuffer(4));
  private batch: Buffer | undefined;
  private used = 0;
  private oids: string[] = [];
  private ends: number[] = [];
  private bases: Array<string | null> = [];
  private sizes: number[] = [];
  /** Seams were handed over: the worker may need to read whole blobs, so `indexed` always tells it where. */
  private seamed = false;
  /** Blobs that found no room, for the worker to read from the pack once it is indexed. */
  private unsent: Oid[] = [];
  /** Blobs left for scanContent (over MAX_PRESCAN_BLOB_BYTES, or no room and no pack to read them from). */
  private left = 0;
  private handoverMs = 0;
  private handedBytes = 0;
  private state: 'adding' | 'finishing' | 'ended' = 'adding';
  private result: Promise<PrescannedBlobs> | undefined;

  constructor(
    private readonly pool: BlobScanPool,
    private readonly worker: Worker,
    private readonly id: number,
  ) {}

  add(oid: Oid, data: Uint8Array, delta?: { readonly base: Oid; readonly instructions: Uint8Array }): void {
    if (this.state !== 'adding' || this.sent.has(oid)) return;
    const started = performance.now();
    const size = data.byteLength;
    const seams = delta !== undefined && (this.sent.get(delta.base) ?? -1) >= 0 ? this.seamsOf(data, delta.instructions) : undefined;
    const bytes = seams === undefined ? size : seamBytes(seams);
    if (size > MAX_PRESCAN_BLOB_BYTES) this.left++;
    else if (!this.pool.hasRoom(this.used + bytes)) {
      this.unsent.push(oid);
      this.sent.set(oid, -1);
    } else {
      if (this.batch !== undefined && this.used + bytes > this.batch.length) this.flush();
      if (this.batch === undefined) {
        this.batch = this.pool.takeBuffer(bytes);
        this.used = 0;
      }
      if (seams === undefined) {
        this.batch.set(data, this.used);
        this.used += size;
      } else {
        // The windows, each followed by a byte no keyword contains (it sends the automaton back to its root).
        for (let k = 0; k < seams.length; k += 2) {
          this.batch.set(data.subarray(seams[k], seams[k + 1]), this.used);
          this.used += seams[k + 1] - seams[k];
          this.batch[this.used++] = SEAM_GAP;
        }
        this.seamed = true;
      }
      this.oids.push(oid);
      this.ends.push(this.used);
      this.bases.push(seams === undefined ? null : delta!.base);
      this.sizes.push(size);
      this.sent.set(oid, size);
      if (this.used >= this.pool.batchBytes) this.flush();
    }
    this.handoverMs += performance.now() - started;
  }

  /** The seam windows of a delta's result worth sending instead of the whole (undefined: send it whole). */
  private seamsOf(data: Uint8Array, instructions: Uint8Array): number[] | undefined {
    // Binary content is sent whole: the worker says so from its first 8000 bytes.
    if (isBinary(data)) return undefined;
    const seams = deltaSeams(instructions, this.pool.keywordReach - 1);
    return seamBytes(seams) * 2 < data.byteLength ? seams : undefined;
  }

  indexed(pack: PackLocation): void {
    if (this.state !== 'adding' || (this.unsent.length === 0 && !this.seamed)) return;
    this.flush();
    const oids = this.unsent;
    this.unsent = [];
    this.worker.postMessage({ kind: 'read', session: this.id, cancelled: this.cancelled, pack, oids } satisfies ToWorker);
  }

  finish(): Promise<PrescannedBlobs> {
    if (this.result !== undefined) return this.result;
    if (this.state === 'ended') return NOTHING_AHEAD.finish();
    this.state = 'finishing';
    this.result = new Promise<PrescannedBlobs>((resolve) => {
      const settle = (answer: Extract<FromWorker, { kind: 'done' }> | undefined): void => {
        // Cancelled while finishing: the worker skipped its batches still queued, which are not clean.
        if (Atomics.load(this.cancelled, 0) !== 0) answer = undefined;
        this.state = 'ended';
        this.pool.ended();
        // Known: what was handed over, and what the worker read and scanned (a worker that failed knows nothing).
        const known = new Map<Oid, number>();
        if (answer !== undefined) {
          for (const [oid, size] of this.sent) if (size >= 0) known.set(oid, size);
          for (const oid of answer.unknown) known.delete(oid as Oid);
          for (const [oid, size] of answer.read) known.set(oid as Oid, size);
        }
        const found = new Map(answer?.results ?? []);
        const stats: PrescanStats = {
          blobs: known.size,
          bytes: [...known.values()].reduce((a, b) => a + b, 0),
          left: this.left + this.sent.size - known.size,
          workerMs: answer?.workerMs ?? 0,
          handoverMs: this.handoverMs,
          handedBytes: this.handedBytes,
          readWhole: answer?.read.length ?? 0,
        };
        resolve({
          get(oid) {
            const size = known.get(oid);
            if (size === undefined) return undefined;
            return found.get(oid) ?? { kind: 'text', bytes: size, findings: [], spans: [], keywordFree: true };
          },
          stats,
        });
      };
      // Its worker was lost (or the pool closed) before the push was judged: nothing will answer.
      if (!this.pool.serves(this.worker)) return settle(undefined);
      this.pool.register(this.id, { resolve: settle });
      try {
        this.flush();
        this.worker.postMessage({ kind: 'end', session: this.id } satisfies ToWorker);
      } catch {
        // The worker is gone: its exit ends every open session.
      }
    });
    return this.result;
  }

  cancel(): void {
    if (this.state === 'ended') return;
    Atomics.store(this.cancelled, 0, 1);
    this.batch = undefined;
    if (this.state === 'adding') {
      this.state = 'ended';
      this.pool.ended();
      // The worker may hold batches of this session: tell it the session is over.
      try {
        this.worker.postMessage({ kind: 'end', session: this.id } satisfies ToWorker);
      } catch {
        // gone already
      }
    }
  }

  private flush(): void {
    const batch = this.batch;
    if (batch === undefined || this.oids.length === 0) return;
    this.batch = undefined;
    if (!this.pool.serves(this.worker)) {
      // Its worker is gone: nothing would acknowledge the batch, whose bytes would count as in flight for good.
      this.oids = [];
      this.ends = [];
      this.bases = [];
      this.sizes = [];
      this.used = 0;
      return;
    }
    const data = new Uint8Array(batch.buffer, batch.byteOffset, this.used);
    const message: ToWorker = {
      kind: 'batch',
      session: this.id,
      cancelled: this.cancelled,
      data,
      oids: this.oids,
      ends: Uint32Array.from(this.ends),
      bases: this.bases,
      sizes: Uint32Array.from(this.sizes),
    };
    this.pool.sent(this.used);
    this.handedBytes += this.used;
    this.oids = [];
    this.ends = [];
    this.bases = [];
    this.sizes = [];
    this.used = 0;
    this.worker.postMessage(message, [batch.buffer as ArrayBuffer]);
  }
}

/** Between two seam windows: a non-ASCII byte, which no keyword contains. */
export const SEAM_GAP = 0x80;

/** Bytes the seam windows take when sent, a gap after each. */
function seamBytes(seams: readonly number[]): number {
  let n = 0;
  for (let k = 0; k < seams.length; k += 2) n += seams[k + 1] - seams[k] + 1;
  return n;
}
