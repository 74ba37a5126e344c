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
 * an "evil merge") are scanned too, unless its result was scanned whole and holds no detector
 * keyword at all (then no selection of its lines can hold a secret).
 *
 * Blobs scanned ahead (prescan.ts: in a worker, while the push was inspected) are taken from
 * `prescanned`, the same scanner's result on the same bytes; the others are read and scanned here.
 */
import type { AddedContent, BlobContent, BlobSite, ChangeSet, FileChange, MergeChange, MergeContent, NewBlob } from '@pushgate/changes';
import type { Oid } from '@pushgate/core';
import { asCompiled, type CompiledPolicy } from './compile';
import type { PolicyConfig, PolicyConfigInput } from './config';
import type { PrescannedBlobs } from './prescan';
import { secretLookingPath, type SecretFinding } from './secrets/index';
import { findingSpans } from './secrets/spans';
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
  /** Blobs scanned ahead, while the push was inspected (prescan.ts); a blob it does not know is read and scanned here. */
  readonly prescanned?: PrescannedBlobs;
}

/** Nothing scanned (no rule reads content). */
const NOTHING: ContentFindings = { secrets: [], unscanned: [], scannedBytes: 0, durationMs: 0 };

/** Scans what the push brings for the content conditions; does nothing when no enforce or evaluate rule uses them. */
export async function scanContent({ changeSet, content, policy, prescanned }: ScanContentInput): Promise<ContentFindings> {
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
  let scannedAhead = 0;
  /** Blobs scanned whole in which no detector keyword occurs. */
  const keywordFree = new Set<Oid>();

  for (const blob of content.newBlobs()) {
    // Content the upstream already has (a revert, a copy) is not new to the repository.
    if (blob.inUpstream) continue;
    const named = needs.secretFiles ? blob.sites.filter((s) => isNamedByContent(s.path)) : [];
    const sites = scansAll ? blob.sites.filter((s) => !allowlisted(s.path)) : [];
    if (sites.length === 0 && named.length === 0) continue;
    // Scanned ahead: the same scanner on the same bytes, so the same result, without reading the blob again.
    const ahead = scanner !== undefined && named.length === 0 ? prescanned?.get(blob.oid) : undefined;
    if (ahead !== undefined) {
      scannedAhead++;
      if (ahead.kind === 'binary') {
        for (const s of sites) noteUnscanned({ commit: s.commit, path: s.path, reason: 'binary', detail: `binary content, ${ahead.size} bytes` });
        continue;
      }
      scannedBytes += ahead.bytes;
      if (ahead.keywordFree) keywordFree.add(blob.oid);
      if (ahead.findings.length > 0) for (const site of sites) secrets.push(...(await keepAdded(content, site, ahead.findings, ahead.spans)));
      continue;
    }
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
        if (result.kind === 'scanned' && result.keywordFree === true) keywordFree.add(blob.oid);
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
        // The merge's own lines are lines of its result; a result scanned whole without a single
        // keyword holds no secret in any of them (nor anything unscanned): no diff against the parents.
        if (m.result !== undefined && m.result.kind !== 'submodule' && keywordFree.has(m.result.oid)) continue;
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
  return {
    secrets,
    unscanned,
    ...(needs.secretFiles ? { secretFiles } : {}),
    scannedBytes,
    ...(prescanned !== undefined ? { scannedAhead } : {}),
    durationMs: performance.now() - started,
  };
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
