/** The pushgate version, read from the repository's package.json at runtime (source and bundle alike). */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The version of pushgate, e.g. `0.1.0` (`unknown` when package.json cannot be found). */
export function pushgateVersion(): string {
  if (cached !== undefined) return cached;
  // dist/pushgate.js and packages/gateway/src/version.ts both sit below the root package.json.
  for (const up of ['../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'pushgate' && typeof pkg.version === 'string') return (cached = pkg.version);
    } catch {
      // try the next candidate
    }
  }
  return (cached = 'unknown');
}
