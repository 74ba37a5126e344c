/**
 * Throughput of the secret scanner on real source text: the JavaScript, TypeScript, JSON and
 * Markdown files under node_modules (what a monorepo's pushes mostly contain, minified bundles
 * included), up to TARGET_MB, with generated secrets sprinkled in. Prints MB/s and what was found.
 * MB/s is given per wall-clock second and per second of this process's CPU time: on a shared
 * machine the first depends on the neighbours, the second much less.
 *
 *   npx tsx packages/policy/src/secrets/scan.bench.ts [megabytes]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, positiveSamples } from './corpus.test-support';
import { createSecretScanner } from './scanner';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const TARGET_MB = Number(process.argv[2] ?? 80);
const EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.json', '.md'];

function collect(): Buffer[] {
  const files: Buffer[] = [];
  let total = 0;
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    } catch {
      return;
    }
    for (const e of entries) {
      if (total >= TARGET_MB * 1e6) return;
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile() && EXTENSIONS.some((x) => e.name.endsWith(x)) && statSync(path).size < 8e6) {
        const bytes = readFileSync(path);
        files.push(bytes);
        total += bytes.length;
      }
    }
  };
  walk(join(ROOT, 'node_modules'));
  return files;
}

const files = collect();
const r = new Rng(1);
const planted = positiveSamples(2, 1);
// One planted secret in about every 200th file, at a random line.
let plantedCount = 0;
const texts = files.map((bytes, i) => {
  if (i % 200 !== 0) return bytes;
  const lines = bytes.toString('utf8').split('\n');
  lines.splice(r.int(0, lines.length), 0, planted[plantedCount++ % planted.length].text);
  return Buffer.from(lines.join('\n'));
});
const bytes = texts.reduce((n, t) => n + t.length, 0);

const scanner = createSecretScanner();
const run = (): { ms: number; cpuMs: number; findings: Map<string, number>; binary: number } => {
  const findings = new Map<string, number>();
  let binary = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const t of texts) {
    const result = scanner.scan(t);
    if (result.kind === 'binary') binary++;
    else if (result.kind === 'scanned') for (const f of result.findings) findings.set(f.detector, (findings.get(f.detector) ?? 0) + 1);
  }
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000, findings, binary };
};

run(); // warm-up: JIT and the detectors' regular expressions
const runs = [run(), run(), run()];
const best = runs.reduce((a, b) => (a.ms < b.ms ? a : b));
const bestCpu = runs.reduce((a, b) => (a.cpuMs < b.cpuMs ? a : b));
const mb = bytes / 1e6;
console.log(`${texts.length} files, ${mb.toFixed(1)} MB (${plantedCount} planted secrets), ${scanner.detectorIds.length} detectors`);
console.log(`wall clock, best of 3: ${best.ms.toFixed(0)} ms, ${(mb / (best.ms / 1000)).toFixed(1)} MB/s (runs: ${runs.map((x) => (mb / (x.ms / 1000)).toFixed(1)).join(', ')} MB/s)`);
console.log(`CPU time, best of 3: ${bestCpu.cpuMs.toFixed(0)} ms, ${(mb / (bestCpu.cpuMs / 1000)).toFixed(1)} MB/s (runs: ${runs.map((x) => (mb / (x.cpuMs / 1000)).toFixed(1)).join(', ')} MB/s)`);
console.log(`binary (not scanned): ${best.binary}; findings by detector: ${JSON.stringify(Object.fromEntries([...best.findings].sort((a, b) => b[1] - a[1])))}`);
