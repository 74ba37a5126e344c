/**
 * The change set's file changes, stored column-wise: one growable typed array per field, paths
 * and object ids interned once for the whole push. A real history's push has tens of thousands
 * of file changes; as objects (a change, two sides, a path string and an id string each) they
 * cost ~400 bytes apiece and keep the GC busy, here ~50 bytes and no per-change object. A
 * `FileChange` is made when read (FileChangeList.at), short-lived, in the exact shape the plain
 * objects had.
 */
import type { Oid } from '@pushgate/core';
import { entryKind } from '@pushgate/objects';
import { pathFields } from './paths';
import type { FileChange, FileChangeList, FileKind, FileSide, FileStatus, FileSummary } from './types';

/** Interned paths: the exact bytes (as a latin1 key) to an id, with the change-set fields of each. */
export class PathTable {
  private readonly ids = new Map<string, number>();
  readonly paths: string[] = [];
  /** Hex of the exact bytes, only for paths that are not valid UTF-8. */
  readonly pathBytes: (string | undefined)[] = [];

  /** The id of `path` (its bytes), interning it on first sight. */
  intern(path: Buffer): number {
    const key = path.toString('latin1');
    const hit = this.ids.get(key);
    if (hit !== undefined) return hit;
    const id = this.paths.length;
    const f = pathFields(path);
    // An ASCII path's key is its display string: keep one string, not two.
    this.paths.push(f.path === key ? key : f.path);
    this.pathBytes.push(f.pathBytes);
    this.ids.set(key, id);
    return id;
  }

  get size(): number {
    return this.paths.length;
  }
}

/** Interned object ids. */
export class OidTable {
  private readonly ids = new Map<Oid, number>();
  readonly oids: Oid[] = [];

  /** The id of `oid`, interning it on first sight. */
  intern(oid: Oid): number {
    const hit = this.ids.get(oid);
    if (hit !== undefined) return hit;
    const id = this.oids.length;
    this.oids.push(oid);
    this.ids.set(oid, id);
    return id;
  }
}

const STATUSES: readonly FileStatus[] = ['added', 'deleted', 'modified', 'renamed', 'type-changed'];
const STATUS_CODE = new Map<FileStatus, number>(STATUSES.map((s, i) => [s, i]));

/** The mode texts of canonical modes, made once. */
const MODE_TEXTS = new Map<number, string>([0o100644, 0o100755, 0o120000, 0o160000].map((m) => [m, m.toString(8).padStart(6, '0')]));

function modeText(mode: number): string {
  return MODE_TEXTS.get(mode) ?? mode.toString(8).padStart(6, '0');
}

/** One side of a change as the builder hands it to the table. */
export interface SideInput {
  readonly path: Buffer;
  readonly mode: number;
  readonly oid: Oid;
  /** Absent for submodules. */
  readonly size?: number;
  readonly target?: string;
}

/** The raw fields of one side of a stored change, without making a FileSide. */
export interface SideRef {
  readonly mode: number;
  readonly oid: Oid;
  /** -1 when absent (submodules). */
  readonly size: number;
}

const NONE = -1;

/** Every file change of one change set, column-wise. */
export class FileTable {
  readonly paths = new PathTable();
  readonly oids = new OidTable();
  private n = 0;
  private status = new Uint8Array(1024);
  private similarity = new Uint8Array(1024);
  /** Per row and side (index row * 2 + side, side 0 = old): path id, mode, oid id, size. */
  private path = new Int32Array(2048);
  private mode = new Int32Array(2048);
  private oid = new Int32Array(2048);
  private size = new Float64Array(2048);
  /** Symlink targets, by row * 2 + side (few). */
  private readonly targets = new Map<number, string>();

  /** Rows stored so far. */
  get length(): number {
    return this.n;
  }

  /** Bytes the table's arrays take (for memory accounting). */
  get bytes(): number {
    return this.status.byteLength * 2 + (this.path.byteLength + this.mode.byteLength + this.oid.byteLength) + this.size.byteLength;
  }

  /** Appends a change; returns its row. */
  push(status: FileStatus, old: SideInput | undefined, next: SideInput | undefined, similarity = 0): number {
    if (this.n === this.status.length) this.grow();
    const row = this.n++;
    this.status[row] = STATUS_CODE.get(status)!;
    this.similarity[row] = similarity;
    this.setSide(row * 2, old);
    this.setSide(row * 2 + 1, next);
    return row;
  }

  private setSide(at: number, side: SideInput | undefined): void {
    if (!side) {
      this.path[at] = NONE;
      this.mode[at] = 0;
      this.oid[at] = NONE;
      this.size[at] = NONE;
      return;
    }
    this.path[at] = this.paths.intern(side.path);
    this.mode[at] = side.mode;
    this.oid[at] = this.oids.intern(side.oid);
    this.size[at] = side.size ?? NONE;
    if (side.target !== undefined) this.targets.set(at, side.target);
  }

  private grow(): void {
    const cap = this.status.length * 2;
    const widen = <T extends Uint8Array | Int32Array | Float64Array>(a: T, len: number): T => {
      const b = new (a.constructor as new (n: number) => T)(len);
      b.set(a);
      return b;
    };
    this.status = widen(this.status, cap);
    this.similarity = widen(this.similarity, cap);
    this.path = widen(this.path, cap * 2);
    this.mode = widen(this.mode, cap * 2);
    this.oid = widen(this.oid, cap * 2);
    this.size = widen(this.size, cap * 2);
  }

  /** The status of row `row`. */
  statusOf(row: number): FileStatus {
    return STATUSES[this.status[row]];
  }

  /** The raw old (side 0) or new (side 1) of row `row`, or undefined when that side is absent. */
  sideRef(row: number, side: 0 | 1): SideRef | undefined {
    const at = row * 2 + side;
    if (this.oid[at] === NONE) return undefined;
    return { mode: this.mode[at], oid: this.oids.oids[this.oid[at]], size: this.size[at] };
  }

  /** The path id of a row's old or new side (NONE when absent). */
  pathId(row: number, side: 0 | 1): number {
    return this.path[row * 2 + side];
  }

  /** The display path of a row: the new side's, or the old one's for a deletion. */
  pathOf(row: number): string {
    const id = this.path[row * 2 + 1] !== NONE ? this.path[row * 2 + 1] : this.path[row * 2];
    return this.paths.paths[id];
  }

  private side(at: number): FileSide {
    const pid = this.path[at];
    const path = this.paths.paths[pid];
    const pathBytes = this.paths.pathBytes[pid];
    const m = this.mode[at];
    const mode = modeText(m);
    const kind = entryKind(m) as FileKind;
    const oid = this.oids.oids[this.oid[at]];
    const base = pathBytes === undefined ? { path, mode, kind, oid } : { path, pathBytes, mode, kind, oid };
    if (kind === 'submodule') return base;
    const target = this.targets.get(at);
    return target === undefined ? { ...base, size: this.size[at] } : { ...base, size: this.size[at], target };
  }

  /** Row `row` as a FileChange. */
  change(row: number): FileChange {
    const status = this.statusOf(row);
    switch (status) {
      case 'added':
        return { status, new: this.side(row * 2 + 1) };
      case 'deleted':
        return { status, old: this.side(row * 2) };
      case 'renamed':
        return { status, old: this.side(row * 2), new: this.side(row * 2 + 1), similarity: this.similarity[row] };
      case 'modified':
      case 'type-changed':
        return { status, old: this.side(row * 2), new: this.side(row * 2 + 1) };
    }
  }

  /** Row `row`'s summary, read from the columns (no FileChange made); `index` is its position in its list. */
  summary(row: number, index: number): FileSummary {
    const status = this.statusOf(row);
    const oldAt = row * 2;
    const newAt = oldAt + 1;
    if (status === 'deleted') {
      return { index, status, path: this.paths.paths[this.path[oldAt]], renamedFrom: undefined, size: undefined, sameObject: false, newOid: undefined, newKind: undefined };
    }
    const newKind = entryKind(this.mode[newAt]) as FileKind;
    const size = newKind === 'submodule' ? undefined : this.size[newAt];
    const path = this.paths.paths[this.path[newAt]];
    const newOid = this.oids.oids[this.oid[newAt]];
    if (status === 'added') return { index, status, path, renamedFrom: undefined, size, sameObject: false, newOid, newKind };
    const renamedFrom = status === 'renamed' ? this.paths.paths[this.path[oldAt]] : undefined;
    // Interned: the same object has the same id.
    return { index, status, path, renamedFrom, size, sameObject: this.oid[oldAt] === this.oid[newAt], newOid, newKind };
  }

  /** Rows [start, end) as a list. */
  slice(start: number, end: number): TableSlice {
    return new TableSlice(this, start, end);
  }
}

/** A run of rows of a FileTable: the file changes of one diff. */
export class TableSlice implements FileChangeList {
  constructor(
    readonly table: FileTable,
    readonly start: number,
    readonly end: number,
  ) {}

  get length(): number {
    return this.end - this.start;
  }

  at(index: number): FileChange {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) throw new RangeError(`file change ${index} of ${this.length}`);
    return this.table.change(this.start + index);
  }

  *[Symbol.iterator](): Iterator<FileChange> {
    for (let row = this.start; row < this.end; row++) yield this.table.change(row);
  }

  summaries(): FileSummary[] {
    const out = new Array<FileSummary>(this.length);
    for (let i = 0; i < out.length; i++) out[i] = this.table.summary(this.start + i, i);
    return out;
  }

  toArray(): FileChange[] {
    return [...this];
  }

  toJSON(): FileChange[] {
    return this.toArray();
  }
}

/** A change's summary made from the FileChange (for lists that hold FileChanges). */
export function summarizeFileChange(f: FileChange, index: number): FileSummary {
  switch (f.status) {
    case 'added':
      return { index, status: f.status, path: f.new.path, renamedFrom: undefined, size: sizeOf(f.new), sameObject: false, newOid: f.new.oid, newKind: f.new.kind };
    case 'deleted':
      return { index, status: f.status, path: f.old.path, renamedFrom: undefined, size: undefined, sameObject: false, newOid: undefined, newKind: undefined };
    case 'renamed':
      return { index, status: f.status, path: f.new.path, renamedFrom: f.old.path, size: sizeOf(f.new), sameObject: f.old.oid === f.new.oid, newOid: f.new.oid, newKind: f.new.kind };
    case 'modified':
    case 'type-changed':
      return { index, status: f.status, path: f.new.path, renamedFrom: undefined, size: sizeOf(f.new), sameObject: f.old.oid === f.new.oid, newOid: f.new.oid, newKind: f.new.kind };
  }
}

function sizeOf(side: FileSide): number | undefined {
  return side.kind === 'submodule' ? undefined : side.size;
}

/** An empty list (no table needed). */
export const NO_FILES: FileChangeList = Object.freeze({
  length: 0,
  at(index: number): FileChange {
    throw new RangeError(`file change ${index} of 0`);
  },
  [Symbol.iterator]: function* (): Iterator<FileChange> {},
  summaries: () => [],
  toArray: () => [],
  toJSON: () => [],
});
