/**
 * The content prescan's worker thread (see prescan.ts): scans the batches of blobs it is handed
 * with the policy's secret scanner, settles a delta's result from its base and its seams when it
 * can, reads from the indexed pack the blobs that found no room in memory and those it could not
 * settle, and scans them too; and answers, per push, what it found in which blob. Built into
 * dist/prescan-worker.js beside the gateway's bundle.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Oid } from '@pushgate/core';
import { GitDirObjectStore, PushedPackStore } from '@pushgate/objects';
import { compilePolicy } from './compile';
import { MAX_PRESCAN_BLOB_BYTES, type FromWorker, type PrescannedBlob, type ToWorker, type WorkerInit } from './prescan';
import { findingSpans } from './secrets/spans';
import { isBinary } from './secrets/scanner';

const port = parentPort;
if (port === null) throw new Error('prescan-worker.ts runs as a worker thread');
const { policy } = workerData as WorkerInit;
const scanner = compilePolicy(policy).scanner();

/** What the worker found for one push so far. */
interface Found {
  readonly results: Array<readonly [string, PrescannedBlob]>;
  readonly read: Array<readonly [string, number]>;
  /** Blobs settled as holding no keyword (true) or as holding one, or binary (false). */
  readonly keywordFree: Map<string, boolean>;
  /** Blobs handed over as seams that could not be settled from them: to be read whole from the pack. */
  needWhole: string[];
  workerMs: number;
  failure?: string;
}
const sessions = new Map<number, Found>();

/** What each reader (the pack, the mirror) may keep in memory while the worker reads; both are closed after. */
const READ_CACHE_BYTES = 8 * 1024 * 1024;

port.on('message', (m: ToWorker) => {
  let found = sessions.get(m.session);
  if (found === undefined) sessions.set(m.session, (found = { results: [], read: [], keywordFree: new Map(), needWhole: [], workerMs: 0 }));
  if (m.kind === 'end') {
    sessions.delete(m.session);
    const answer: FromWorker =
      found.failure !== undefined
        ? { kind: 'failed', session: m.session, message: found.failure }
        : { kind: 'done', session: m.session, results: found.results, read: found.read, unknown: found.needWhole, workerMs: found.workerMs };
    port.postMessage(answer);
    return;
  }
  const started = performance.now();
  if (Atomics.load(m.cancelled, 0) === 0 && found.failure === undefined) {
    try {
      if (m.kind === 'batch') scanBatch(m, found);
      else readAndScan(m, found);
    } catch (e) {
      found.failure = e instanceof Error ? e.message : String(e);
    }
  }
  found.workerMs += performance.now() - started;
  if (m.kind === 'batch') {
    const buffer = m.data.buffer as ArrayBuffer;
    port.postMessage({ kind: 'ack', bytes: m.data.byteLength, buffer } satisfies FromWorker, [buffer]);
  }
});

/** What scanContent would make of one blob's bytes: binary, or the findings (no keyword at all is the usual answer, not stored). */
function scanOne(oid: string, data: Buffer, found: Found): void {
  if (isBinary(data)) {
    found.keywordFree.set(oid, false);
    found.results.push([oid, { kind: 'binary', size: data.length }]);
    return;
  }
  const result = scanner.scan(data);
  found.keywordFree.set(oid, result.kind === 'scanned' && result.keywordFree === true);
  // Binary cannot happen here (tested above); a text without any keyword (most) need not travel back.
  if (result.kind !== 'scanned' || result.keywordFree === true) return;
  found.results.push([oid, { kind: 'text', bytes: data.length, findings: result.findings, spans: findingSpans(data, result.findings), keywordFree: false }]);
}

function scanBatch(m: Extract<ToWorker, { kind: 'batch' }>, found: Found): void {
  const buf = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  let start = 0;
  for (let i = 0; i < m.oids.length; i++) {
    const end = m.ends[i];
    const bytes = buf.subarray(start, end);
    start = end;
    const base = m.bases[i];
    if (base === null) {
      scanOne(m.oids[i], bytes, found);
      continue;
    }
    // Seams of a delta's result (prescan.ts): no keyword in its base nor at its seams, none anywhere in it.
    if (found.keywordFree.get(base) === true && !scanner.mentionsKeyword(bytes)) found.keywordFree.set(m.oids[i], true);
    else found.needWhole.push(m.oids[i]);
  }
}

/**
 * Reads the blobs that found no room from the indexed pack (thin bases from the mirror) and scans
 * them. A blob that cannot be read here (the push was refused and its pack removed meanwhile, a
 * read error) is only left unknown: scanContent reads it itself, and reports what fails there.
 */
function readAndScan(m: Extract<ToWorker, { kind: 'read' }>, found: Found): void {
  const oids = [...m.oids, ...found.needWhole];
  if (oids.length === 0) return;
  // Whatever is not read below stays unknown (a seamed blob) or unsent: scanContent reads it.
  const unread = new Set(found.needWhole);
  let mirror: GitDirObjectStore | undefined;
  let pushed: PushedPackStore | undefined;
  try {
    mirror = GitDirObjectStore.open(m.pack.mirrorGitDir, { limits: m.pack.limits, cacheBytes: READ_CACHE_BYTES, windowBytes: READ_CACHE_BYTES });
    pushed = PushedPackStore.open(m.pack.packPath, m.pack.idxPath, { limits: m.pack.limits, base: mirror, cacheBytes: READ_CACHE_BYTES });
    for (const oid of oids) {
      if (Atomics.load(m.cancelled, 0) !== 0) return;
      const header = pushed.header(oid as Oid);
      if (header === undefined || header.type !== 'blob' || header.size > MAX_PRESCAN_BLOB_BYTES) continue;
      const object = pushed.read(oid as Oid);
      if (object === undefined || object.type !== 'blob') continue;
      scanOne(oid, object.data, found);
      found.read.push([oid, object.data.length]);
      unread.delete(oid);
    }
  } catch {
    // Left unknown from here on (see above).
  } finally {
    found.needWhole = [...unread];
    pushed?.close();
    mirror?.close();
  }
}
