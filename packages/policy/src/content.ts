/**
 * scanContent: what the content conditions (`secrets`, `unscannable`) read, found before evaluate
 * runs (evaluate itself does no I/O).
 *
 * Blob-first, as the content reader is meant to be used: every blob the push brings is read once,
 * whatever number of commits and paths bring it, and scanned once. Only a blob with findings is
 * diffed, per site (commit, path) that brings it, and a finding is kept for a site only when its
 * lines are among the lines that site adds — a secret already in the file before the push does not
 * fire on a commit that edits another line. Fail closed wherever the added lines are not known (a
 * diff skipped as too large or over budget, a binary side): the site keeps all of the blob's
 * findings. Content that cannot be scanned at all (binary, too large, budget spent) is reported as
 * Unscanned, so a rule can refuse what it could not see. A merge's own lines (what no parent has,
 * an "evil merge") are scanned too.
 */
import type { AddedContent, BlobContent, BlobSite, ChangeSet, FileChange, MergeChange, MergeContent, NewBlob } from '@pushgate/changes';
import type { Oid } from '@pushgate/core';
import { asCompiled, type CompiledPolicy } from './compile';
import type { PolicyConfig, PolicyConfigInput } from './config';
import { secretLookingPath, type SecretFinding } from './secrets/index';
import type { ContentFindings, SecretFileHit, SecretHit, Unscanned } from './types';

/** File names that hold credentials only when their content says so (secretLookingPath reads it). */
const NAMED_BY_CONTENT = new Set(['.npmrc', '.yarnrc.yml']);

function isNamedByContent(path: string): boolean {
  return NAMED_BY_CONTENT.has(path.slice(path.lastIndexOf('/') + 1).toLowerCase());
}

/** What scanContent reads content through (ChangeContent of @pushgate/changes provides it). */
export interface ContentSource {
  newBlobs(): NewBlob[];
  blob(oid: Oid): Promise<BlobContent>;
  change(commit: Oid, path: string): FileChange | undefined;
  addedLinesOf(change: FileChange): Promise<AddedContent>;
  mergeContentOf(change: MergeChange): Promise<MergeContent>;
}

/** What scanContent needs: the push, its content, and the policy whose rules decide what to look for. */
export interface ScanContentInput {
  readonly changeSet: ChangeSet;
  readonly content: ContentSource;
  readonly policy: PolicyConfigInput | PolicyConfig | CompiledPolicy;
}

/** Nothing scanned (no rule reads content). */
const NOTHING: ContentFindings = { secrets: [], unscanned: [], scannedBytes: 0, durationMs: 0 };

/** Scans what the push brings for the content conditions; does nothing when no enforce or evaluate rule uses them. */
export async function scanContent({ changeSet, content, policy }: ScanContentInput): Promise<ContentFindings> {
  const compiled = asCompiled(policy);
  const needs = compiled.needs;
  if (!needs.secrets && !needs.unscannable && !needs.secretFiles) return NOTHING;
  const scansAll = needs.secrets || needs.unscannable;
  const started = performance.now();
  const scanner = needs.secrets ? compiled.scanner() : undefined;
  const secretFiles: SecretFileHit[] = [];
  const allowlisted = (path: string): boolean => compiled.allowPaths.some((g) => g.matches(path));
  const secrets: SecretHit[] = [];
  const unscanned: Unscanned[] = [];
  const unscannedKeys = new Set<string>();
  const noteUnscanned = (u: Unscanned): void => {
    const key = `${u.commit}\0${u.path}\0${u.reason}`;
    if (unscannedKeys.has(key)) return;
    unscannedKeys.add(key);
    unscanned.push(u);
  };
  let scannedBytes = 0;

  for (const blob of content.newBlobs()) {
    // Content the upstream already has (a revert, a copy) is not new to the repository.
    if (blob.inUpstream) continue;
    const named = needs.secretFiles ? blob.sites.filter((s) => isNamedByContent(s.path)) : [];
    const sites = scansAll ? blob.sites.filter((s) => !allowlisted(s.path)) : [];
    if (sites.length === 0 && named.length === 0) continue;
    const data = await content.blob(blob.oid);
    if (data.kind === 'text' && named.length > 0) {
      const text = data.data.toString('utf8');
      for (const s of named) {
        const looks = secretLookingPath(s.path, text);
        if (looks !== undefined) secretFiles.push({ commit: s.commit, path: s.path, rule: looks.rule });
      }
    }
    switch (data.kind) {
      case 'binary':
        for (const s of sites) noteUnscanned({ commit: s.commit, path: s.path, reason: 'binary', detail: `binary content, ${data.size} bytes` });
        break;
      case 'skipped':
        for (const s of sites) noteUnscanned({ commit: s.commit, path: s.path, reason: data.reason, detail: data.detail });
        break;
      case 'text': {
        scannedBytes += data.data.length;
        if (scanner === undefined) break;
        const result = scanner.scan(data.data);
        if (result.kind === 'binary') {
          for (const s of sites) noteUnscanned({ commit: s.commit, path: s.path, reason: 'binary', detail: 'binary content' });
          break;
        }
        if (result.kind === 'allowlisted' || result.findings.length === 0) break;
        const spans = findingSpans(data.data, result.findings);
        for (const site of sites) secrets.push(...(await keepAdded(content, site, result.findings, spans)));
        break;
      }
      default:
        unreachable(data);
    }
  }

  if (scanner !== undefined) {
    for (const c of changeSet.commits) {
      if (c.merge.kind !== 'merge') continue;
      for (const m of c.merge.introduced) {
        if (allowlisted(m.path)) continue;
        const own = await content.mergeContentOf(m);
        switch (own.kind) {
          case 'none':
            break;
          case 'binary':
            noteUnscanned({ commit: c.oid, path: m.path, reason: 'binary', detail: "binary content in the merge's result" });
            break;
          case 'skipped':
            noteUnscanned({ commit: c.oid, path: m.path, reason: own.reason, detail: own.detail });
            break;
          case 'text': {
            if (own.introducedLines.length === 0) break;
            // The merge's own lines, joined: line i of the joined text is introducedLines[i - 1].
            const text = own.introducedLines.map((l) => l.text).join('\n');
            scannedBytes += Buffer.byteLength(text);
            const result = scanner.scan(text);
            if (result.kind !== 'scanned') break;
            for (const f of result.findings) {
              const line = own.introducedLines[f.line - 1]?.line ?? f.line;
              if (secrets.some((s) => s.commit === c.oid && s.path === m.path && s.line === line && s.fingerprint === f.fingerprint)) continue;
              secrets.push({ commit: c.oid, path: m.path, line, detector: f.detector, masked: f.masked, fingerprint: f.fingerprint });
            }
            break;
          }
          default:
            unreachable(own);
        }
      }
    }
  }
  return { secrets, unscanned, ...(needs.secretFiles ? { secretFiles } : {}), scannedBytes, durationMs: performance.now() - started };
}

/** The lines each finding covers (first and last, 1-based): a PEM key spans many. */
function findingSpans(data: Buffer, findings: readonly SecretFinding[]): Array<readonly [number, number]> {
  if (findings.every((f) => f.length < 64)) return findings.map((f) => [f.line, f.line]);
  // Decoded as the scanner decodes it, so lines and columns agree.
  const text = data.toString('utf8');
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return findings.map((f) => {
    const offset = (starts[f.line - 1] ?? 0) + f.column - 1;
    let last = f.line;
    for (let i = text.indexOf('\n', offset); i >= 0 && i < offset + f.length; i = text.indexOf('\n', i + 1)) last++;
    return [f.line, last];
  });
}

/** The findings of a blob that a site adds: those on a line the site adds, or all of them where its added lines are unknown. */
async function keepAdded(content: ContentSource, site: BlobSite, findings: readonly SecretFinding[], spans: ReadonlyArray<readonly [number, number]>): Promise<SecretHit[]> {
  const hit = (f: SecretFinding): SecretHit => ({ commit: site.commit, path: site.path, line: f.line, detector: f.detector, masked: f.masked, fingerprint: f.fingerprint });
  const change = content.change(site.commit, site.path);
  // Fail closed: a site whose change cannot be found, or whose added lines are unknown, keeps every finding.
  if (change === undefined) return findings.map(hit);
  const added = await content.addedLinesOf(change);
  switch (added.kind) {
    case 'text': {
      const lines = new Set(added.lines.map((l) => l.line));
      return findings.filter((_f, i) => {
        const [first, last] = spans[i];
        for (let n = first; n <= last; n++) if (lines.has(n)) return true;
        return false;
      }).map(hit);
    }
    case 'binary':
    case 'skipped':
    // `none` (nothing added) cannot happen for a site that brings a new blob; if it does, keep the findings.
    case 'none':
      return findings.map(hit);
    default:
      return unreachable(added);
  }
}

function unreachable(x: never): never {
  throw new Error(`unexpected value ${JSON.stringify(x)}`);
}
