/** File contents as tests describe them, and their translation into tree entries for fast-import. */
import type { FastImportChange } from './fast-import';

/** Contents of one path in a commit: text or bytes (mode 100644), a symlink, or an executable (100755). */
export type FileContent = string | Buffer | { readonly symlink: string } | { readonly executable: string | Buffer };

/** Paths (relative, `/`-separated) to their new contents; `null` deletes the path. */
export type FileChanges = Readonly<Record<string, FileContent | null>>;

/** The fast-import change that gives `path` the contents `content` (or deletes it for null). */
export function fastImportChange(path: string, content: FileContent | null): FastImportChange {
  if (content === null) return { kind: 'delete', path };
  if (typeof content === 'string') return { kind: 'blob', path, mode: '100644', data: Buffer.from(content, 'utf8') };
  if (Buffer.isBuffer(content)) return { kind: 'blob', path, mode: '100644', data: content };
  if ('symlink' in content) return { kind: 'blob', path, mode: '120000', data: Buffer.from(content.symlink, 'utf8') };
  const data = typeof content.executable === 'string' ? Buffer.from(content.executable, 'utf8') : content.executable;
  return { kind: 'blob', path, mode: '100755', data };
}
