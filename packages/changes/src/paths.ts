/**
 * Paths in a change set. Internally a path is its exact bytes; in the change set it is a string
 * that is the UTF-8 text when the bytes are UTF-8, otherwise the text with `\xNN` for the bytes
 * that are not, plus the exact bytes in hex, so the data stays JSON- and jsonb-safe and two
 * different paths never look the same to a machine.
 */
import { decodeName, displayName, isEscapedName } from '@pushgate/objects';

/** The change-set fields of a path. */
export function pathFields(path: Buffer): { path: string; pathBytes?: string } {
  // ASCII (nearly every path) is its own UTF-8 and has nothing to escape.
  let ascii = true;
  for (let i = 0; i < path.length; i++) {
    if (path[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return { path: path.toString('latin1') };
  const name = decodeName(path);
  if (!isEscapedName(name)) return { path: name };
  return { path: displayName(name), pathBytes: path.toString('hex') };
}

/** A path for messages. */
export function describePath(path: Buffer): string {
  return displayName(decodeName(path));
}
