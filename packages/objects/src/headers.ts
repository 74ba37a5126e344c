/**
 * The header block shared by commits and tags: `<key> SP <value> LF` lines up to the first empty
 * line, where a line starting with a space continues the previous value (multi-line values such
 * as `gpgsig` and `mergetag`; git's commit.c read_commit_extra_header_lines). The message follows
 * the empty line.
 */

/** One header line (continuations joined with LF, their leading space removed). */
export interface RawHeader {
  readonly key: string;
  /** Where the value starts and ends in the object's bytes (the first line only). */
  readonly valueStart: number;
  readonly valueEnd: number;
  /** The full value as bytes when it has continuation lines; otherwise undefined (use the range). */
  readonly multiline?: Buffer;
}

/** Headers and where the message starts (the object's length when there is none). */
export interface SplitObject {
  readonly headers: RawHeader[];
  readonly messageStart: number;
}

/** Splits commit or tag bytes into header lines and the message offset. Never throws. */
export function splitHeaders(buf: Buffer): SplitObject {
  const headers: RawHeader[] = [];
  let p = 0;
  const n = buf.length;
  let current: { key: string; valueStart: number; valueEnd: number; parts?: Buffer[] } | undefined;
  const flush = () => {
    if (!current) return;
    headers.push({
      key: current.key,
      valueStart: current.valueStart,
      valueEnd: current.valueEnd,
      multiline: current.parts ? Buffer.concat(current.parts) : undefined,
    });
    current = undefined;
  };
  while (p < n) {
    let eol = buf.indexOf(0x0a, p);
    if (eol < 0) eol = n;
    if (eol === p) {
      // The empty line: the message starts after it.
      flush();
      return { headers, messageStart: p + 1 };
    }
    if (buf[p] === 0x20 && current) {
      current.parts ??= [buf.subarray(current.valueStart, current.valueEnd)];
      current.parts.push(Buffer.from([0x0a]), buf.subarray(p + 1, eol));
    } else {
      flush();
      const sp = buf.indexOf(0x20, p);
      if (sp < 0 || sp > eol) current = { key: buf.toString('latin1', p, eol), valueStart: eol, valueEnd: eol };
      else current = { key: buf.toString('latin1', p, sp), valueStart: sp + 1, valueEnd: eol };
    }
    p = eol + 1;
  }
  flush();
  return { headers, messageStart: n };
}

/** The value bytes of a header. */
export function headerValue(buf: Buffer, h: RawHeader): Buffer {
  return h.multiline ?? buf.subarray(h.valueStart, h.valueEnd);
}
