/**
 * `indexPack`: what `git index-pack --fix-thin` does for a received pack (gitformat-pack(5);
 * the pack arrives as the data after the commands of a receive-pack request,
 * gitprotocol-pack(5)), except that a thin pack is left byte-identical — it is relayed upstream
 * as is — and its outside bases are read from the mirror (`external`) instead of appended.
 *
 *   pass 1 (scan.ts):    headers, bounded inflate, CRC32s, ids of whole objects, trailer check
 *   pass 2 (resolve.ts): deltas resolved depth-first from each base, ids of the results
 *   then (idx-write.ts): a v2 .idx next to the pack listing the pack's own objects
 *
 * Every object (whole or resolved) is handed to `onObject` once per entry, with its content, so
 * the caller can check and collect objects without reading them again.
 *
 * Duplicates: git tolerates the same object twice in one pack (only `--strict` refuses it), and
 * so does this: both entries are verified (same id, hence same content), both are listed in the
 * index (its count must equal the pack header's), `onObject` sees each, and `duplicates` counts
 * them. A delta against a duplicated base is resolved once.
 */
import { open } from 'node:fs/promises';
import { constants as bufferConstants } from 'node:buffer';
import { Pacer, type Limits, type Oid, type ProgressSink } from '@pushgate/core';
import type { ObjectType } from './format';
import { writePackIndex } from './idx-write';
import { Inflater } from './inflater';
import type { ObjectSink } from './pack-object';
import { resolveDeltas, type ExternalObjects } from './resolve';
import { scanPack } from './scan';
import type { SpooledPack } from './spool';

/** The stages of receiving and indexing a pack, as progress reports name them. */
export type PackStage = 'receiving pack' | 'indexing objects' | 'resolving deltas';

/** Options of indexPack. */
export interface IndexPackOptions {
  readonly limits: Limits;
  /** Objects the receiving repository has (the upstream mirror): a thin pack's delta bases. */
  readonly external?: ExternalObjects;
  /** Called for every object of the pack with its content; throwing aborts indexing. */
  readonly onObject?: ObjectSink;
  readonly onProgress?: ProgressSink;
  readonly signal?: AbortSignal;
  /** Where to write the index; by default the pack's path with `.idx` for `.pack`. */
  readonly idxPath?: string;
  /** What spoolPack reported for this file: its checksum then needs no second computation. */
  readonly spooled?: SpooledPack;
  /** Bytes per sequential read of the pack (default 4 MiB; tests use tiny ones). */
  readonly readBytes?: number;
}

/** Objects of each type in an indexed pack. */
export type ObjectCounts = Readonly<Record<ObjectType, number>>;

/** Wall-clock milliseconds of each stage. */
export interface IndexTimings {
  readonly scanMs: number;
  readonly resolveMs: number;
  readonly writeIndexMs: number;
  readonly totalMs: number;
}

/** What indexPack found and wrote. */
export interface IndexedPack {
  /** Entries in the pack (duplicates included), as its header says and the scan confirmed. */
  readonly objectCount: number;
  readonly version: 2 | 3;
  readonly packBytes: number;
  /** The pack's trailer: SHA-1 of the rest of it, hex. Git names pack files after it. */
  readonly packChecksum: string;
  readonly idxPath: string;
  /** SHA-1 of the written index, hex. */
  readonly idxChecksum: string;
  /** Objects by type, deltas counted as the type they resolve to. */
  readonly counts: ObjectCounts;
  /** Entries stored as deltas, by kind. */
  readonly deltas: { readonly ofs: number; readonly ref: number };
  /** Bases outside the pack that its deltas were applied to (a thin pack's), sorted. */
  readonly externalBases: readonly Oid[];
  /** Entries whose object an earlier entry of the same pack already holds. */
  readonly duplicates: number;
  /** Longest delta chain (0 without deltas); chains on external bases count from that base. */
  readonly maxDeltaDepth: number;
  readonly timings: IndexTimings;
}

const DEFAULT_READ_BYTES = 4 * 1024 * 1024;

/**
 * Indexes the pack at `packPath`: verifies every entry and the trailer, resolves every delta
 * (thin bases through `external`), computes every object id, and writes a v2 `.idx`. Bad
 * input throws PackError or LimitError; nothing is written then.
 */
export async function indexPack(packPath: string, opts: IndexPackOptions): Promise<IndexedPack> {
  const t0 = performance.now();
  const limits: Limits = { ...opts.limits, maxObjectBytes: Math.min(opts.limits.maxObjectBytes, bufferConstants.MAX_LENGTH - 1) };
  const pacer = new Pacer({ signal: opts.signal, onProgress: opts.onProgress });
  pacer.check();
  const readBytes = opts.readBytes ?? DEFAULT_READ_BYTES;
  const inflater = new Inflater();
  const fh = await open(packPath, 'r');
  try {
    const fileBytes = (await fh.stat()).size;
    const known =
      opts.spooled && opts.spooled.bytes === fileBytes && opts.spooled.checksum ? Buffer.from(opts.spooled.checksum, 'hex') : undefined;
    const scan = await scanPack(fh, fileBytes, {
      limits,
      inflater,
      pacer,
      onObject: opts.onObject,
      knownChecksum: known,
      readBytes,
    });
    const t1 = performance.now();
    const { table } = scan;
    const resolved = await resolveDeltas(fh.fd, table, scan.deltaCount, {
      limits,
      inflater,
      pacer,
      external: opts.external,
      onObject: opts.onObject,
      readBytes,
    });
    const t2 = performance.now();
    const idxPath = opts.idxPath ?? packPath.replace(/(\.pack)?$/, '.idx');
    const written = await writePackIndex(
      { count: table.length, oids: table.oids, offsets: table.offsets, crcs: table.crcs },
      scan.checksum,
      idxPath,
    );
    const t3 = performance.now();

    const byType = [0, 0, 0, 0, 0];
    let ofs = 0;
    let ref = 0;
    for (let i = 0; i < table.length; i++) {
      byType[table.types[i]]++;
      if (table.kinds[i] === 6) ofs++;
      else if (table.kinds[i] === 7) ref++;
    }
    return {
      objectCount: table.length,
      version: scan.header.version,
      packBytes: fileBytes,
      packChecksum: scan.checksum.toString('hex'),
      idxPath,
      idxChecksum: written.checksum,
      counts: { commit: byType[1], tree: byType[2], blob: byType[3], tag: byType[4] },
      deltas: { ofs, ref },
      externalBases: resolved.externalBases,
      duplicates: written.duplicates,
      maxDeltaDepth: resolved.maxDeltaDepth,
      timings: { scanMs: t1 - t0, resolveMs: t2 - t1, writeIndexMs: t3 - t2, totalMs: t3 - t0 },
    };
  } finally {
    inflater.close();
    await fh.close();
  }
}
