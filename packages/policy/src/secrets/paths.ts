/**
 * Paths: the allowlist's globs, and files whose name alone says they hold credentials.
 */
import { RE2JS } from 're2js';
import { SecretsConfigError } from '../errors';
import { GlobSyntaxError, globSource } from '../globs';

/** A compiled path glob. */
export interface PathGlob {
  readonly glob: string;
  matches(path: string): boolean;
}

/**
 * Compiles a gitignore-style glob: `*` and `?` stay within a path segment, `**` spans segments,
 * `{a,b}` is an alternative and `[…]` a character class; a glob without `/` matches the file name
 * in any directory. It compiles to RE2, so matching is linear in the path whatever the glob.
 */
export function compileGlob(glob: string, setting = 'allow.paths'): PathGlob {
  let re: string;
  try {
    re = globSource(glob, 'segmented');
  } catch (e) {
    if (!(e instanceof GlobSyntaxError)) throw e;
    throw new SecretsConfigError('SECRETS_PATTERN_INVALID', `path glob ${JSON.stringify(glob)}: ${e.reason}`, { setting, pattern: glob, reason: e.reason });
  }
  // A leading `/` anchors the glob at the repository's root, as every glob with a `/` is: paths have none.
  const anchored = glob.includes('/') ? `^/?${re.replace(/^(?:\\\/|\/)/, '')}$` : `(?:^|/)${re}$`;
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(anchored);
  } catch (e) {
    throw new SecretsConfigError('SECRETS_PATTERN_INVALID', `path glob ${JSON.stringify(glob)} does not compile: ${(e as Error).message}`, { setting, pattern: glob, reason: (e as Error).message }, e);
  }
  return { glob, matches: (path) => compiled.matcher(path).find() };
}

/** What kind of credential-bearing file a path looks like. */
export type SecretPathKind = 'private-key' | 'keystore' | 'env-file' | 'credentials-file';

/** Why a path looks like a secret: its kind and the rule that matched (`*.pem`, `.env`, …). */
export interface SecretPath {
  readonly kind: SecretPathKind;
  readonly rule: string;
}

/** `.env` variants that are templates by convention and hold no real values. */
const ENV_TEMPLATES = new Set(['example', 'sample', 'template', 'dist', 'defaults', 'default', 'schema', 'tmpl', 'tpl']);

/** Exact file names, and the rule named for each. */
const NAMED: ReadonlyMap<string, SecretPath> = new Map<string, SecretPath>([
  ['id_rsa', { kind: 'private-key', rule: 'id_rsa' }],
  ['id_dsa', { kind: 'private-key', rule: 'id_dsa' }],
  ['id_ecdsa', { kind: 'private-key', rule: 'id_ecdsa' }],
  ['id_ed25519', { kind: 'private-key', rule: 'id_ed25519' }],
  ['id_ecdsa_sk', { kind: 'private-key', rule: 'id_ecdsa_sk' }],
  ['id_ed25519_sk', { kind: 'private-key', rule: 'id_ed25519_sk' }],
  ['.pypirc', { kind: 'credentials-file', rule: '.pypirc' }],
  ['.netrc', { kind: 'credentials-file', rule: '.netrc' }],
  ['_netrc', { kind: 'credentials-file', rule: '_netrc' }],
  ['.git-credentials', { kind: 'credentials-file', rule: '.git-credentials' }],
  ['credentials.json', { kind: 'credentials-file', rule: 'credentials.json' }],
  ['client_secret.json', { kind: 'credentials-file', rule: 'client_secret.json' }],
  ['kubeconfig', { kind: 'credentials-file', rule: 'kubeconfig' }],
  ['.pgpass', { kind: 'credentials-file', rule: '.pgpass' }],
  ['.htpasswd', { kind: 'credentials-file', rule: '.htpasswd' }],
  ['.s3cfg', { kind: 'credentials-file', rule: '.s3cfg' }],
  ['.dockercfg', { kind: 'credentials-file', rule: '.dockercfg' }],
  ['terraform.tfstate', { kind: 'credentials-file', rule: 'terraform.tfstate' }],
]);

/** Files that hold credentials only when their content says so (`_authToken` in .npmrc). */
const AUTH_IN_CONTENT: ReadonlyMap<string, RegExp> = new Map([
  ['.npmrc', /_authToken\s*=|_auth\s*=|_password\s*=/],
  ['.yarnrc.yml', /npmAuthToken\s*:|npmAuthIdent\s*:/],
]);

/** Suffixes of private key and keystore files. */
const SUFFIXES: ReadonlyArray<readonly [string, SecretPath]> = [
  ['.pem', { kind: 'private-key', rule: '*.pem' }],
  ['.key', { kind: 'private-key', rule: '*.key' }],
  ['.ppk', { kind: 'private-key', rule: '*.ppk' }],
  ['.p12', { kind: 'keystore', rule: '*.p12' }],
  ['.pfx', { kind: 'keystore', rule: '*.pfx' }],
  ['.jks', { kind: 'keystore', rule: '*.jks' }],
  ['.keystore', { kind: 'keystore', rule: '*.keystore' }],
];

/**
 * Whether `path` names a file that holds credentials by convention: private keys (id_rsa, *.pem,
 * *.key, *.p12, *.pfx), .env files (not .env.example, .env.sample, …), credential files (.pypirc,
 * .netrc, .git-credentials, credentials.json, kubeconfig, ~/.aws/credentials, ~/.docker/config.json).
 * For .npmrc and .yarnrc.yml, which are usually harmless, `content` decides: they count only when it
 * carries an auth setting (without content they are not reported).
 */
export function secretLookingPath(path: string, content?: string): SecretPath | undefined {
  const normalized = path.replace(/\\/g, '/');
  const slash = normalized.lastIndexOf('/');
  const name = normalized.slice(slash + 1);
  const lower = name.toLowerCase();
  const named = NAMED.get(lower);
  if (named !== undefined) return named;
  const authRe = AUTH_IN_CONTENT.get(lower);
  if (authRe !== undefined) return content !== undefined && authRe.test(content) ? { kind: 'credentials-file', rule: `${lower} with auth` } : undefined;
  if (lower === '.env' || lower.startsWith('.env.') || lower.endsWith('.env')) {
    const variant = lower.startsWith('.env.') ? lower.slice(5) : '';
    if (ENV_TEMPLATES.has(variant) || lower.endsWith('.example') || lower.endsWith('.sample') || lower.endsWith('.template')) return undefined;
    return { kind: 'env-file', rule: lower === '.env' ? '.env' : '.env.*' };
  }
  const dirs = normalized.toLowerCase();
  if (dirs.endsWith('.aws/credentials')) return { kind: 'credentials-file', rule: '.aws/credentials' };
  if (dirs.endsWith('.docker/config.json')) return { kind: 'credentials-file', rule: '.docker/config.json' };
  if (dirs.endsWith('.kube/config')) return { kind: 'credentials-file', rule: '.kube/config' };
  for (const [suffix, kind] of SUFFIXES) if (lower.endsWith(suffix) && lower.length > suffix.length) return kind;
  return undefined;
}
