/**
 * Globs over names that are not file paths: refs, repositories, push options, subjects, emails.
 * Unlike path globs (secrets/paths.ts, gitignore-style: a glob without `/` matches a file name in
 * any directory), these always match the whole name, so `main` never matches `refs/heads/main`.
 * They compile to RE2, so matching is linear in the name whatever the glob.
 */
import { RE2JS } from 're2js';

/** A compiled whole-name glob. */
export interface NameGlob {
  readonly glob: string;
  matches(name: string): boolean;
}

/** How `*` behaves: within one `/`-separated segment (refs, repositories) or across everything (options, subjects). */
export type GlobSegments = 'segmented' | 'flat';

/** A glob that cannot be read; `reason` says what is wrong (`unclosed [`, `unclosed {`). */
export class GlobSyntaxError extends Error {
  constructor(
    readonly glob: string,
    readonly reason: string,
  ) {
    super(`glob ${JSON.stringify(glob)}: ${reason}`);
  }
}

/**
 * The RE2 source of a glob (unanchored): `*` (within a segment when `segments` is `segmented`),
 * `**` (across segments; followed by a slash it also matches no directory at all), `?`, `{a,b}` and `[…]`. The one
 * translation every glob of the package goes through; throws GlobSyntaxError.
 */
export function globSource(glob: string, segments: GlobSegments): string {
  let re = '';
  let depth = 0;
  const star = segments === 'segmented' ? '[^/]*' : '.*';
  const one = segments === 'segmented' ? '[^/]' : '.';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slashAfter = glob[i + 2] === '/';
        re += slashAfter ? '(?:.*/)?' : '.*';
        i += slashAfter ? 2 : 1;
      } else re += star;
    } else if (c === '?') re += one;
    else if (c === '{') {
      re += '(?:';
      depth++;
    } else if (c === '}' && depth > 0) {
      re += ')';
      depth--;
    } else if (c === ',' && depth > 0) re += '|';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 1);
      if (close < 0) throw new GlobSyntaxError(glob, 'unclosed [');
      re += `[${glob.slice(i + 1, close).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
      i = close;
    } else re += RE2JS.quote(c);
  }
  if (depth !== 0) throw new GlobSyntaxError(glob, 'unclosed {');
  return re;
}

/**
 * Compiles a whole-name glob (globSource's syntax). `caseInsensitive` for emails. Throws an Error
 * whose message says what is wrong; the configuration schema turns it into an issue.
 */
export function compileNameGlob(glob: string, segments: GlobSegments, caseInsensitive = false): NameGlob {
  const re = globSource(glob, segments);
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(`^(?:${re})$`, caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (e) {
    throw new Error(`glob ${JSON.stringify(glob)} does not compile: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { glob, matches: (name) => compiled.matches(name) };
}
