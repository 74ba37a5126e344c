/**
 * Capability lists (gitprotocol-capabilities(5); gitprotocol-pack(5)):
 *
 *   capability-list  =  capability *(SP capability)
 *   capability       =  1*(LC_ALPHA / DIGIT / "-" / "_") [ "=" value ]
 *
 * and protocol v2's one-per-line `key[=value]` (gitprotocol-v2(5) "Capability Advertisement").
 * Order is kept and repeats are allowed (`symref=` and `object-format=` may appear several times).
 */
import type { SidebandMode } from '@pushgate/pktline';

/** A capability's value: the text after `=`, or true for a bare name. */
export type CapabilityValue = string | true;

/** One capability as sent. */
export interface CapabilityEntry {
  readonly name: string;
  readonly value: CapabilityValue;
}

/** Which report a receive-pack client asked for: report-status-v2 wins over report-status, as in git. */
export type ReportFormat = 'v2' | 'v1' | 'none';

/** An ordered capability list with typed accessors for the ones pushgate acts on. */
export class Capabilities {
  readonly entries: readonly CapabilityEntry[];

  constructor(entries: readonly CapabilityEntry[] = []) {
    this.entries = entries;
  }

  /** Parses a space-separated v0/v1 list; empty tokens (git's send-pack starts the list with a space) are skipped. */
  static parse(list: string): Capabilities {
    const entries: CapabilityEntry[] = [];
    for (const token of list.split(' ')) {
      if (token.length > 0) entries.push(parseCapability(token));
    }
    return new Capabilities(entries);
  }

  /** True when `name` is present, with or without a value. */
  has(name: string): boolean {
    return this.entries.some((e) => e.name === name);
  }

  /** The first value of `name`, or undefined when absent. */
  get(name: string): CapabilityValue | undefined {
    return this.entries.find((e) => e.name === name)?.value;
  }

  /** Every value of `name`, in order. */
  getAll(name: string): CapabilityValue[] {
    return this.entries.filter((e) => e.name === name).map((e) => e.value);
  }

  /** The entries that satisfy `keep`, as a new list. */
  filter(keep: (entry: CapabilityEntry) => boolean): Capabilities {
    return new Capabilities(this.entries.filter(keep));
  }

  /** The report-status flavour requested. */
  get reportFormat(): ReportFormat {
    return this.has('report-status-v2') ? 'v2' : this.has('report-status') ? 'v1' : 'none';
  }

  /** `report-status`. */
  get reportStatus(): boolean {
    return this.has('report-status');
  }

  /** `report-status-v2`. */
  get reportStatusV2(): boolean {
    return this.has('report-status-v2');
  }

  /** The side-band mode, side-band-64k when both are listed (as in an advertisement). */
  get sideband(): SidebandMode | undefined {
    return this.has('side-band-64k') ? 'side-band-64k' : this.has('side-band') ? 'side-band' : undefined;
  }

  /** `quiet`: the client suppresses progress. */
  get quiet(): boolean {
    return this.has('quiet');
  }

  /** `atomic`: all refs or none. */
  get atomic(): boolean {
    return this.has('atomic');
  }

  /** `push-options`: a push-options section follows the commands. */
  get pushOptions(): boolean {
    return this.has('push-options');
  }

  /** `ofs-delta`. */
  get ofsDelta(): boolean {
    return this.has('ofs-delta');
  }

  /** `delete-refs`. */
  get deleteRefs(): boolean {
    return this.has('delete-refs');
  }

  /** `agent=<value>`. */
  get agent(): string | undefined {
    return stringValue(this.get('agent'));
  }

  /** `session-id=<value>`. */
  get sessionId(): string | undefined {
    return stringValue(this.get('session-id'));
  }

  /** The first `object-format=`, or `sha1`, which the spec says is implied when none is given. */
  get objectFormat(): string {
    const value = this.get('object-format');
    return value === undefined ? 'sha1' : value === true ? '' : value;
  }

  /** The v0/v1 wire form: entries joined by single spaces. */
  toString(): string {
    return this.entries.map(formatCapability).join(' ');
  }
}

/** `name` or `name=value`. */
export function formatCapability(entry: CapabilityEntry): string {
  return entry.value === true ? entry.name : `${entry.name}=${entry.value}`;
}

/** Splits `name[=value]` at the first `=`. */
export function parseCapability(token: string): CapabilityEntry {
  const eq = token.indexOf('=');
  return eq < 0 ? { name: token, value: true } : { name: token.slice(0, eq), value: token.slice(eq + 1) };
}

function stringValue(value: CapabilityValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
