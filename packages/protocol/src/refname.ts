/**
 * Ref name rules of `git check-ref-format` (git-check-ref-format(1), refs.c
 * check_refname_format()), plus receive-pack's own rule for pushed refs (receive-pack.c,
 * update(): a name outside `refs/`, or whose part after `refs/` fails check_refname_format
 * without REFNAME_ALLOW_ONELEVEL, is refused as a "funny refname"). So `refs/heads/main` is
 * pushable, `refs/main` and `HEAD` are not.
 */

/** Whether a ref name may be pushed, and if not, why. */
export type RefNameCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const OK: RefNameCheck = Object.freeze({ ok: true });

/**
 * The longest ref name component and ref name a push may name. git stores a ref as a file named
 * after it (the files backend, `$GIT_DIR/refs/heads/…`), so a longer one fails at the upstream
 * with "failed to update ref" whatever its format: NAME_MAX is 255 bytes on Linux, macOS and
 * Windows, PATH_MAX 4096 on Linux. Refusing them up front also bounds what one command holds in
 * memory to a few KB instead of a 64 KB pkt-line (10,000 of those made a push of 650 MB of names).
 */
export const MAX_REF_COMPONENT_BYTES = 255;
/** See MAX_REF_COMPONENT_BYTES. */
export const MAX_REF_NAME_BYTES = 4096;

/** Checks `name` as git's receive-pack does before updating a ref (and as its ref store can hold it). */
export function checkRefName(name: string): RefNameCheck {
  if (!name.startsWith('refs/')) return bad('does not start with refs/');
  const rest = name.slice('refs/'.length);
  const format = checkRefFormat(rest);
  if (!format.ok) return format;
  if (!rest.includes('/')) return bad('has only one component after refs/');
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_REF_NAME_BYTES) return bad(`is ${bytes} bytes long, more than the ${MAX_REF_NAME_BYTES} a ref can have`);
  for (const component of rest.split('/')) {
    const length = Buffer.byteLength(component, 'utf8');
    if (length > MAX_REF_COMPONENT_BYTES) return bad(`has a component of ${length} bytes, more than the ${MAX_REF_COMPONENT_BYTES} a file name can have`);
  }
  return OK;
}

/** `git check-ref-format` without --allow-onelevel, --refspec-pattern or --normalize, minus the one-level rule. */
export function checkRefFormat(name: string): RefNameCheck {
  if (name === '@') return bad('is the single character @');
  if (name.length === 0) return bad('is empty');
  const components = name.split('/');
  for (const component of components) {
    if (component.length === 0) return bad(name.startsWith('/') ? 'starts with /' : name.endsWith('/') ? 'ends with /' : 'contains //');
    if (component.startsWith('.')) return bad(`has a component starting with "." (${JSON.stringify(component)})`);
    if (component.endsWith('.lock')) return bad(`has a component ending with ".lock" (${JSON.stringify(component)})`);
  }
  if (name.includes('..')) return bad('contains ..');
  if (name.includes('@{')) return bad('contains @{');
  for (const ch of name) {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 0x20 || c === 0x7f) return bad(`contains the control character 0x${c.toString(16).padStart(2, '0')}`);
    if (' ~^:?*[\\'.includes(ch)) return bad(`contains ${JSON.stringify(ch)}`);
  }
  if (name.endsWith('.')) return bad('ends with .');
  return OK;
}

function bad(reason: string): RefNameCheck {
  return { ok: false, reason };
}
