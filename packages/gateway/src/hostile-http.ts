/**
 * Test support for the hostile-input suites: POSTs a body exactly as given and reads the whole
 * answer. A server may answer a bad request before it has read the body and close the connection;
 * the write errors that follow (EPIPE, ECONNRESET) are then expected and ignored, since the answer
 * is what the test is about.
 */
import http, { type IncomingHttpHeaders } from 'node:http';

/** The answer to a POST. */
export interface PostAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Longest wait for an answer by default; a hang is a failure, not a slow test. */
const ANSWER_TIMEOUT_MS = 60_000;

/** POSTs `body` to `url` with `headers` (Content-Length set) on a fresh connection; rejects after `timeoutMs` without a complete answer. */
export function postBody(url: string, headers: Readonly<Record<string, string>>, body: Buffer, timeoutMs = ANSWER_TIMEOUT_MS): Promise<PostAnswer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(url, { method: 'POST', agent: false, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no complete answer from ${url} within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => {
      if (answered) return;
      clearTimeout(timer);
      reject(e);
    });
    req.end(body);
  });
}
