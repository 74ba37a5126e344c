/**
 * Raw HTTP/1.1 over a socket, for requests no HTTP client would send as written: traversal in
 * every encoding, absolute-form targets, control characters. The answer is parsed just enough.
 */
import { connect } from 'node:net';

/** A parsed answer. */
export interface RawResponse {
  readonly status: number;
  /** Lower-case header names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Everything received, as latin1 text (for "never contains" checks). */
  readonly raw: string;
}

/** Sends `method target` with `headers` and `body` to `base` (http://host:port) and reads the answer until the server closes. */
export async function rawRequest(
  base: string,
  method: string,
  target: string,
  headers: Readonly<Record<string, string>> = {},
  body?: Buffer,
): Promise<RawResponse> {
  const url = new URL(base);
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (body !== undefined) lines.push(`Content-Length: ${body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  const received = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(body === undefined ? head : Buffer.concat([head, body]));
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
  const split = received.indexOf('\r\n\r\n');
  const headText = received.subarray(0, split).toString('latin1');
  const [statusLine, ...headerLines] = headText.split('\r\n');
  const parsed: Record<string, string> = {};
  for (const line of headerLines) {
    const i = line.indexOf(':');
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    parsed[name] = parsed[name] === undefined ? value : `${parsed[name]}, ${value}`;
  }
  let rest = received.subarray(split + 4);
  if (parsed['transfer-encoding'] === 'chunked') rest = dechunk(rest);
  return { status: Number(statusLine.split(' ')[1]), headers: parsed, body: rest, raw: received.toString('latin1') };
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol === -1) break;
    const size = parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}
