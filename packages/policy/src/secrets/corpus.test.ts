/**
 * Recall and false-positive rate on the generated corpus (corpus.test-support.ts). The numbers in
 * docs/SECRETS.md come from this test's table; it fails when recall drops below 0.95 or the
 * false-positive rate rises above 1 %.
 */
import { describe, expect, it } from '@jest/globals';
import { BUILTIN_DETECTORS } from './detectors';
import { secretFingerprint } from './mask';
import { createSecretScanner, type SecretFinding } from './scanner';
import { NEGATIVE_GENERATORS, POSITIVE_GENERATORS, negativeSamples, positiveSamples } from './corpus.test-support';

const PER_DETECTOR = 60;
const PER_CATEGORY = 150;

function findingsOf(text: string): readonly SecretFinding[] {
  const result = scanner.scan(text);
  if (result.kind !== 'scanned') throw new Error(`not scanned: ${result.kind}`);
  return result.findings;
}
const scanner = createSecretScanner();

describe('the labelled corpus', () => {
  it('has a generator for every built-in detector', () => {
    expect(Object.keys(POSITIVE_GENERATORS).sort()).toEqual(BUILTIN_DETECTORS.map((d) => d.id).sort());
    expect(BUILTIN_DETECTORS.length).toBeGreaterThanOrEqual(40);
  });

  it(`reaches recall >= 0.95 and a false-positive rate <= 1 % (${PER_DETECTOR} samples per detector, ${PER_CATEGORY} per look-alike category)`, () => {
    const rows = new Map<string, { total: number; found: number; misses: string[] }>();
    for (const sample of positiveSamples(20261205, PER_DETECTOR)) {
      const row = rows.get(sample.detector) ?? { total: 0, found: 0, misses: [] };
      rows.set(sample.detector, row);
      row.total++;
      const fp = secretFingerprint(sample.secret);
      if (findingsOf(sample.text).some((f) => f.detector === sample.detector && f.fingerprint === fp)) row.found++;
      else if (row.misses.length < 2) row.misses.push(sample.text.slice(0, 160));
    }
    const negatives = new Map<string, { total: number; flagged: number; examples: string[] }>();
    for (const sample of negativeSamples(7, PER_CATEGORY)) {
      const row = negatives.get(sample.category) ?? { total: 0, flagged: 0, examples: [] };
      negatives.set(sample.category, row);
      row.total++;
      const findings = findingsOf(sample.text);
      if (findings.length > 0) {
        row.flagged++;
        if (row.examples.length < 2) row.examples.push(`${findings[0].detector}: ${sample.text.slice(0, 120)}`);
      }
    }
    let total = 0;
    let found = 0;
    const lines = ['| detector | samples | found | recall |', '|---|---:|---:|---:|'];
    for (const [id, row] of rows) {
      total += row.total;
      found += row.found;
      lines.push(`| \`${id}\` | ${row.total} | ${row.found} | ${(row.found / row.total).toFixed(2)} |${row.misses.length ? ` missed e.g. ${JSON.stringify(row.misses[0])}` : ''}`);
    }
    let negTotal = 0;
    let flagged = 0;
    lines.push('', '| look-alike category | samples | reported | false-positive rate |', '|---|---:|---:|---:|');
    for (const [category, row] of negatives) {
      negTotal += row.total;
      flagged += row.flagged;
      lines.push(`| ${category} | ${row.total} | ${row.flagged} | ${((100 * row.flagged) / row.total).toFixed(1)} % |${row.examples.length ? ` e.g. ${JSON.stringify(row.examples[0])}` : ''}`);
    }
    const recall = found / total;
    const fpRate = flagged / negTotal;
    lines.push('', `recall ${recall.toFixed(4)} (${found}/${total}); false-positive rate ${(100 * fpRate).toFixed(2)} % (${flagged}/${negTotal})`);
    console.log(lines.join('\n'));
    expect(Object.keys(NEGATIVE_GENERATORS).length).toBeGreaterThanOrEqual(10);
    expect(recall).toBeGreaterThanOrEqual(0.95);
    expect(fpRate).toBeLessThanOrEqual(0.01);
  });
});
