/**
 * The secret scanner: finds credentials in a text with the built-in detectors and the configured
 * custom ones, and reports each as a finding that carries where it is, a masked form and a SHA-256
 * fingerprint — never the secret itself.
 *
 * How a scan runs, and what bounds its cost:
 *
 * 1. Binary input (a NUL byte in the first 8000 bytes, git's own test in `buffer_is_binary`) is not
 *    scanned; the result says so and the caller decides what an unscannable file means.
 * 2. One pass of the keyword automaton (keywords.ts) finds every keyword occurrence. Its cost is
 *    linear in the text and independent of the number of detectors. Bytes are first run through
 *    it undecoded, stopping at the first keyword: a text without any (most source files) is done.
 * 3. Each occurrence opens a window for the detectors owning that keyword: the whole line when the
 *    line is at most 4096 characters; on longer lines (minified code, embedded blobs) only 256
 *    characters before and 1024 after the keyword, so a 10 MB line costs a few windows, not a
 *    regular-expression run over 10 MB per keyword. A match touching a window edge that is not a
 *    line edge is dropped: it may be a fragment of something longer. Multi-line detectors (PEM
 *    blocks) get the keyword's line plus the next 24 KiB.
 * 4. Overlapping windows of one detector are merged, so a detector reads each character at most once.
 * 5. Built-in patterns are linear-time JavaScript regular expressions (see detectors.ts); custom
 *    patterns from configuration run on RE2 (re2js), which is linear-time whatever the pattern.
 */
import { isAscii } from 'node:buffer';
import { RE2JS } from 're2js';
import { SecretsConfigError } from '../errors';
import { BUILTIN_DETECTORS, type Detector } from './detectors';
import { meetsEntropy, type EntropyThreshold } from './entropy';
import { KeywordMatcher, foldAscii } from './keywords';
import { maskSecret, secretFingerprint } from './mask';
import { compileGlob, type PathGlob } from './paths';

/** One secret found in a text. Carries no part of the secret beyond its masked form. */
export interface SecretFinding {
  /** The detector's id (`github-pat`, or a custom detector's id). */
  readonly detector: string;
  readonly description: string;
  /** 1-based line of the secret's first character. */
  readonly line: number;
  /** 1-based column of the secret's first character, in UTF-16 code units of the decoded line. */
  readonly column: number;
  /** Length of the secret in UTF-16 code units (a PEM body spans several lines). */
  readonly length: number;
  /** `maskSecret(secret)`: the first four characters then `****`. */
  readonly masked: string;
  /** SHA-256 of the secret (UTF-8), lowercase hex; what `allow.fingerprints` lists. */
  readonly fingerprint: string;
}

/** What a scan found, or why nothing was scanned. */
export type SecretScanResult =
  /**
   * The text was scanned; `truncated` when findings stopped at MAX_FINDINGS. `keywordFree` when no
   * detector keyword occurs anywhere in it: then no part of it, nor any selection of its lines, can
   * hold a finding.
   */
  | { readonly kind: 'scanned'; readonly findings: readonly SecretFinding[]; readonly truncated: boolean; readonly keywordFree?: true }
  /** A NUL byte in the first 8000 bytes: binary content, not scanned. */
  | { readonly kind: 'binary' }
  /** The path matched an `allow.paths` glob: not scanned. */
  | { readonly kind: 'allowlisted'; readonly glob: string };

/** A detector from configuration. Its pattern is RE2 syntax and runs on RE2, so it cannot hang a scan. */
export interface CustomDetector {
  readonly id: string;
  readonly description?: string;
  /** RE2 syntax (`(?i)` for case-insensitive). */
  readonly pattern: string;
  /** Literals, at least one, of which one must be on the line for the pattern to run (matched case-insensitively). */
  readonly keywords: readonly string[];
  /** The capture group holding the secret; 0 (the whole match) by default. */
  readonly secretGroup?: number;
  /** Minimum Shannon entropy of the secret, bits per character. */
  readonly entropy?: number;
}

/** What the scanner ignores. */
export interface SecretAllowlist {
  /** Globs of paths not scanned at all (`**​/testdata/**`, `*.snap`). */
  readonly paths?: readonly string[];
  /** RE2 patterns: a finding is ignored when one matches the secret or the line around it. */
  readonly patterns?: readonly string[];
  /** SHA-256 fingerprints (hex) of known test values to ignore. */
  readonly fingerprints?: readonly string[];
  /**
   * Ignore secrets containing `example` (any case), the convention of documented sample credentials
   * such as AWS's; true unless set to false.
   */
  readonly documentedExamples?: boolean;
}

/** The scanner's configuration. */
export interface SecretScannerConfig {
  readonly detectors?: readonly CustomDetector[];
  readonly allow?: SecretAllowlist;
  /** Ids of built-in detectors to turn off. */
  readonly disable?: readonly string[];
}

/** Options of one scan. */
export interface SecretScanOptions {
  /** The file's path, for `allow.paths`. */
  readonly path?: string;
  /**
   * False runs every detector on every line that contains one of its keywords, found by plain
   * string search instead of the automaton and windows: slower, and meant for checking the prefilter.
   */
  readonly prefilter?: boolean;
}

/** A configured scanner; build once, scan many texts. Pure and synchronous. */
export interface SecretScanner {
  /** Scans one text (bytes are decoded as UTF-8; invalid sequences become U+FFFD). */
  scan(input: string | Uint8Array, options?: SecretScanOptions): SecretScanResult;
  /** The ids of the detectors in use, built-in then custom. */
  readonly detectorIds: readonly string[];
  /** Whether any detector keyword occurs in `bytes` (the prefilter's first pass; see KeywordMatcher.occursIn). */
  mentionsKeyword(bytes: Uint8Array): boolean;
  /** The longest keyword's length: a keyword found in a text lies within this many bytes of where it starts. */
  readonly longestKeyword: number;
}

/** Git's binary test reads this many bytes (xdiff-interface.c, FIRST_FEW_BYTES). */
export const BINARY_SNIFF_BYTES = 8000;
/** Lines up to this long are searched whole; longer ones only in windows around keywords. */
export const FULL_LINE_LIMIT = 4096;
/** Window around a keyword on a long line: characters searched before the keyword. */
export const WINDOW_BEFORE = 256;
/** Window around a keyword on a long line: characters searched after the keyword. */
export const WINDOW_AFTER = 1024;
/** How far past its keyword's line a multi-line secret (PEM body, up to 20,000 characters) may reach. */
export const MULTILINE_REACH = 24 * 1024;
/** A text with more findings than this is reported truncated: it is refused anyway, and the list must stay bounded. */
export const MAX_FINDINGS = 1000;
/** How many previous findings are checked for overlap with a new one. */
const OVERLAP_LOOKBACK = 8;
/** How much of a line around a finding `allow.patterns` see. */
const ALLOW_CONTEXT = 512;

/** True when the first 8000 bytes (or characters) contain a NUL. */
export function isBinary(input: string | Uint8Array): boolean {
  if (typeof input === 'string') return input.slice(0, BINARY_SNIFF_BYTES).includes('\0');
  return input.subarray(0, BINARY_SNIFF_BYTES).includes(0);
}

/** A detector ready to run: built-in or custom behind one interface. */
interface Runnable {
  readonly id: string;
  readonly description: string;
  readonly keywords: readonly string[];
  readonly multiline: boolean;
  readonly generic: boolean;
  readonly assignment: boolean;
  readonly entropy?: EntropyThreshold;
  readonly validate?: (secret: string) => boolean;
  /** Reports every secret span (relative to `window`) the pattern finds; `bare` for an unquoted assignment value. */
  run(window: string, onSecret: (start: number, end: number, bare: boolean) => void): void;
}

function builtin(detector: Detector): Runnable {
  // A private copy: RegExp objects carry lastIndex, and scanners must not share state.
  const re = new RegExp(detector.pattern.source, detector.pattern.flags);
  return {
    id: detector.id,
    description: detector.description,
    keywords: detector.keywords,
    multiline: detector.multiline === true,
    generic: detector.generic === true,
    assignment: detector.assignment === true,
    entropy: detector.entropy,
    validate: detector.validate,
    run(window, onSecret) {
      re.lastIndex = 0;
      for (let m = re.exec(window); m !== null; m = re.exec(window)) {
        if (m[0].length === 0) re.lastIndex++;
        for (const g of detector.secretGroups) {
          const span = m.indices?.[g];
          if (span !== undefined) {
            onSecret(span[0], span[1], g === detector.bareGroup);
            break;
          }
        }
      }
    },
  };
}

function compileUserPattern(pattern: string, setting: string, detector?: string): RE2JS {
  try {
    return RE2JS.compile(pattern);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    const where = detector === undefined ? setting : `detector ${JSON.stringify(detector)}`;
    throw new SecretsConfigError('SECRETS_PATTERN_INVALID', `${where}: pattern ${JSON.stringify(pattern)} is not valid RE2: ${reason}`, { setting, pattern, reason, ...(detector === undefined ? {} : { detector }) }, e);
  }
}

function custom(def: CustomDetector, taken: ReadonlySet<string>): Runnable {
  const bad = (reason: string): SecretsConfigError =>
    new SecretsConfigError('SECRETS_DETECTOR_INVALID', `custom detector ${JSON.stringify(def.id)}: ${reason}`, { setting: 'detectors', detector: def.id, pattern: def.pattern, reason });
  if (typeof def.id !== 'string' || !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(def.id)) throw bad('the id must be 1–64 lowercase letters, digits, ".", "_" or "-"');
  if (taken.has(def.id)) throw bad('the id is already used by another detector');
  const keywords = (def.keywords ?? []).map((k) => foldAscii(k));
  if (keywords.length === 0 || keywords.some((k) => k.length === 0 || !/^[\x20-\x7e]+$/.test(k))) throw bad('keywords must be one or more non-empty printable ASCII strings');
  const re = compileUserPattern(def.pattern, 'detectors', def.id);
  const group = def.secretGroup ?? 0;
  if (!Number.isInteger(group) || group < 0 || group > re.groupCount()) throw bad(`secretGroup ${group} does not exist (the pattern has ${re.groupCount()} groups)`);
  const entropy = def.entropy === undefined ? undefined : { hex: def.entropy, base64: def.entropy, other: def.entropy };
  return {
    id: def.id,
    description: def.description ?? `custom detector ${def.id}`,
    keywords,
    multiline: false,
    generic: false,
    assignment: false,
    entropy,
    run(window, onSecret) {
      const m = re.matcher(window);
      while (m.find()) {
        const start = m.start(group);
        if (start >= 0) onSecret(start, m.end(group), false);
      }
    },
  };
}

/**
 * Values of free-form assignments and URL passwords that are references, code or placeholders rather
 * than secrets. A value containing the word `password` is far more often a placeholder
 * (`somepassword`, `your_password`) than a password, and is dropped too.
 */
const PLACEHOLDER_RE = /example|sample|dummy|placeholder|password|changeme|change_me|change-me|your[_-]|xxxx|\*\*\*|redacted|insert|replace|fixme|todo|<|>|\$\{|\{\{|%\(|^\$[A-Za-z_]|^process\.env|^env\.|^os\.|^\.{0,2}\/|:\/\//i;
/** An unquoted value containing one of these words is an identifier (`AuthenticationMD5Password`), not a value. */
const NAMES_A_CREDENTIAL_RE = /pass(?:word|wd)|secret|token|key/i;
const LETTERS_ONLY_RE = /^[A-Za-z_-]+$/;
const MEMBER_EXPRESSION_RE = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/;
/** Passwords shipped as defaults by database images and tutorials; a URL with one is not a leak. */
const DEFAULT_PASSWORDS = new Set(['password', 'pass', 'passwd', 'secret', 'postgres', 'root', 'admin', 'guest', 'test', 'mysql', 'redis', 'user', 'changeme', 'pw', 'pwd']);

function isPlausibleGenericValue(value: string, assignment: boolean): boolean {
  if (DEFAULT_PASSWORDS.has(value.toLowerCase()) || PLACEHOLDER_RE.test(value)) return false;
  if (assignment && (MEMBER_EXPRESSION_RE.test(value) || LETTERS_ONLY_RE.test(value))) return false;
  // A run of one character (`0000000000`, `----------`) is a filler, not a value.
  return !/^(.)\1+$/.test(value);
}

interface RawFinding {
  readonly detector: number;
  /** Trimmed by `accept`, as `end`. */
  start: number;
  /** Trimmed by `accept` (a PEM body's trailing newline is not part of the key). */
  end: number;
  /** An unquoted assignment value. */
  readonly bare: boolean;
}

/** Builds a scanner from configuration; invalid configuration throws SecretsConfigError naming the pattern. */
export function createSecretScanner(config: SecretScannerConfig = {}): SecretScanner {
  const disabled = new Set(config.disable ?? []);
  const known = new Set(BUILTIN_DETECTORS.map((d) => d.id));
  for (const id of disabled) {
    if (!known.has(id)) throw new SecretsConfigError('SECRETS_DETECTOR_INVALID', `disable: no built-in detector is called ${JSON.stringify(id)}`, { setting: 'disable', detector: id, reason: 'unknown detector' });
  }
  const runnables: Runnable[] = BUILTIN_DETECTORS.filter((d) => !disabled.has(d.id)).map(builtin);
  const taken = new Set(BUILTIN_DETECTORS.map((d) => d.id));
  for (const def of config.detectors ?? []) {
    const r = custom(def, taken);
    taken.add(r.id);
    runnables.push(r);
  }

  // Keyword index: each distinct keyword once in the automaton, mapped to the detectors that own it.
  const keywordIds = new Map<string, number>();
  const owners: number[][] = [];
  runnables.forEach((r, index) => {
    for (const k of r.keywords) {
      let id = keywordIds.get(k);
      if (id === undefined) {
        id = owners.length;
        keywordIds.set(k, id);
        owners.push([]);
      }
      if (!owners[id].includes(index)) owners[id].push(index);
    }
  });
  const matcher = new KeywordMatcher([...keywordIds.keys()]);

  const allow = config.allow ?? {};
  const pathGlobs: PathGlob[] = (allow.paths ?? []).map((g) => compileGlob(g));
  const allowPatterns = (allow.patterns ?? []).map((p) => compileUserPattern(p, 'allow.patterns'));
  const allowFingerprints = new Set<string>();
  for (const f of allow.fingerprints ?? []) {
    if (!/^[0-9a-fA-F]{64}$/.test(f)) throw new SecretsConfigError('SECRETS_PATTERN_INVALID', `allow.fingerprints: ${JSON.stringify(f)} is not a SHA-256 in hex (64 hex digits)`, { setting: 'allow.fingerprints', pattern: f, reason: 'not 64 hex digits' });
    allowFingerprints.add(f.toLowerCase());
  }
  const documentedExamples = allow.documentedExamples !== false;

  function scanText(text: string, prefilter: boolean): { findings: SecretFinding[]; truncated: boolean } {
    const n = text.length;
    const raw: RawFinding[] = [];

    // The pending (not yet searched) window of each detector; windows that overlap it join it.
    const pendStart = new Int32Array(runnables.length).fill(-1);
    const pendEnd = new Int32Array(runnables.length);
    const flush = (di: number): void => {
      const ws = pendStart[di];
      if (ws < 0) return;
      const we = pendEnd[di];
      pendStart[di] = -1;
      const r = runnables[di];
      // A window edge inside a line cuts what lies across it; matches touching such an edge are dropped.
      const clippedStart = ws > 0 && text.charCodeAt(ws - 1) !== 10;
      const clippedEnd = !r.multiline && we < n && text.charCodeAt(we) !== 10;
      r.run(text.slice(ws, we), (s, e, bare) => {
        if ((clippedStart && s === 0) || (clippedEnd && e === we - ws) || e <= s) return;
        raw.push({ detector: di, start: ws + s, end: ws + e, bare });
      });
    };
    const open = (di: number, ws: number, we: number): void => {
      // Hits come in order of where the keyword ends, so a longer keyword's window can start a
      // little before the pending one's: overlapping windows merge both ways.
      if (pendStart[di] >= 0 && ws < pendEnd[di] && we > pendStart[di]) {
        if (ws < pendStart[di]) pendStart[di] = ws;
        if (we > pendEnd[di]) pendEnd[di] = we;
        return;
      }
      flush(di);
      pendStart[di] = ws;
      pendEnd[di] = we;
    };
    const windowFor = (di: number, hit: number, hitEnd: number, ls: number, le: number): void => {
      const long = le - ls > FULL_LINE_LIMIT;
      const ws = long ? Math.max(ls, hit - WINDOW_BEFORE) : ls;
      if (runnables[di].multiline) open(di, ws, Math.min(n, le + MULTILINE_REACH));
      else open(di, ws, long ? Math.min(le, hitEnd + WINDOW_AFTER) : le);
    };

    if (prefilter) {
      // The line of the previous hit: hits arrive in text order, so most share it.
      let lineStart = -1;
      let lineEnd = -1;
      const keywords = matcher.keywords;
      matcher.scan(text, (k, hit) => {
        if (hit < lineStart || hit >= lineEnd) {
          lineStart = text.lastIndexOf('\n', hit - 1) + 1;
          const nl = text.indexOf('\n', hit);
          lineEnd = nl < 0 ? n : nl;
        }
        for (const di of owners[k]) windowFor(di, hit, hit + keywords[k].length, lineStart, lineEnd);
      });
    } else {
      for (let ls = 0; ls <= n; ) {
        const nl = text.indexOf('\n', ls);
        const le = nl < 0 ? n : nl;
        const folded = foldAscii(text.slice(ls, le));
        const hits: Array<readonly [number, number, number]> = [];
        runnables.forEach((r, di) => {
          for (const k of r.keywords) {
            for (let at = folded.indexOf(k); at >= 0; at = folded.indexOf(k, at + 1)) hits.push([ls + at + k.length, ls + at, di]);
          }
        });
        // The order the automaton reports in: by where the keyword ends.
        hits.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        for (const [end, start, di] of hits) windowFor(di, start, end, ls, le);
        if (nl < 0) break;
        ls = nl + 1;
      }
    }
    for (let di = 0; di < runnables.length; di++) flush(di);

    // Order by position; the same secret found twice (merged windows) counts once; a specific
    // detector's finding wins over a generic one at an overlapping place, and between generics the
    // earlier detector wins.
    raw.sort((a, b) => a.start - b.start || a.detector - b.detector);
    const kept: RawFinding[] = [];
    const seen = new Set<string>();
    for (const f of raw) {
      if (!accept(text, f)) continue;
      const key = `${f.detector}:${f.start}`;
      if (seen.has(key)) continue;
      seen.add(key);
      // Overlaps are between findings at the same place, which sort next to each other.
      const overlapping = kept.slice(-OVERLAP_LOOKBACK).filter((k) => k.start < f.end && f.start < k.end);
      if (overlapping.length > 0 && runnables[f.detector].generic) continue;
      for (const k of overlapping) if (runnables[k.detector].generic) kept.splice(kept.indexOf(k), 1);
      kept.push(f);
    }

    let lineStarts: number[] | undefined;
    const lineOf = (offset: number): [number, number] => {
      if (lineStarts === undefined) {
        lineStarts = [0];
        for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
      }
      let lo = 0;
      let hi = lineStarts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (lineStarts[mid] <= offset) lo = mid;
        else hi = mid - 1;
      }
      return [lo + 1, offset - lineStarts[lo] + 1];
    };
    const truncated = kept.length > MAX_FINDINGS;
    const findings = kept.slice(0, MAX_FINDINGS).map((f): SecretFinding => {
      const secret = text.slice(f.start, f.end);
      const [line, column] = lineOf(f.start);
      const r = runnables[f.detector];
      return { detector: r.id, description: r.description, line, column, length: f.end - f.start, masked: maskSecret(secret), fingerprint: secretFingerprint(secret) };
    });
    return { findings, truncated };
  }

  /** Whether a candidate survives trimming, entropy, validation, placeholders and the allowlist. */
  function accept(text: string, f: RawFinding): boolean {
    const r = runnables[f.detector];
    let start = f.start;
    let end = f.end;
    // A PEM body begins after a blank line (when it has headers) and ends with the newline before
    // END: whitespace at either end is not part of the key.
    while (start < end && /\s/.test(text[start])) start++;
    while (end > start && /\s/.test(text[end - 1])) end--;
    f.start = start;
    f.end = end;
    const secret = text.slice(start, end);
    if (secret.length === 0) return false;
    if (r.generic && !isPlausibleGenericValue(secret, r.assignment)) return false;
    if (f.bare && NAMES_A_CREDENTIAL_RE.test(secret)) return false;
    if (r.entropy !== undefined && !meetsEntropy(secret, r.entropy)) return false;
    if (r.validate !== undefined && !r.validate(secret)) return false;
    if (documentedExamples && /example/i.test(secret)) return false;
    if (allowFingerprints.size > 0 && allowFingerprints.has(secretFingerprint(secret))) return false;
    if (allowPatterns.length > 0) {
      // Bounded on both sides: on a 10 MB line, searching for its ends once per finding would not be.
      const before = text.slice(Math.max(0, start - ALLOW_CONTEXT), start);
      const after = text.slice(end, end + ALLOW_CONTEXT);
      const nl = after.indexOf('\n');
      const line = before.slice(before.lastIndexOf('\n') + 1) + secret + (nl < 0 ? after : after.slice(0, nl));
      if (allowPatterns.some((p) => p.matcher(secret).find() || p.matcher(line).find())) return false;
    }
    return true;
  }

  const decoder = new TextDecoder('utf-8', { fatal: false });
  // Most source is ASCII: checking that and decoding byte-for-byte is several times faster than
  // UTF-8 decoding, and gives V8 one-byte strings, which its regular expressions scan faster.
  const decode = (bytes: Uint8Array): string =>
    isAscii(bytes) ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1') : decoder.decode(bytes);
  return {
    detectorIds: runnables.map((r) => r.id),
    mentionsKeyword: (bytes) => matcher.occursIn(bytes),
    longestKeyword: matcher.longest,
    scan(input, options = {}) {
      if (isBinary(input)) return { kind: 'binary' };
      if (options.path !== undefined) {
        const glob = pathGlobs.find((g) => g.matches(options.path ?? ''));
        if (glob !== undefined) return { kind: 'allowlisted', glob: glob.glob };
      }
      const prefilter = options.prefilter !== false;
      // No keyword in the bytes, none in the text: no detector would run. Most files end here, undecoded.
      if (prefilter && typeof input !== 'string' && !matcher.occursIn(input)) return { kind: 'scanned', findings: [], truncated: false, keywordFree: true };
      const text = typeof input === 'string' ? input : decode(input);
      const { findings, truncated } = scanText(text, prefilter);
      return { kind: 'scanned', findings, truncated };
    },
  };
}
