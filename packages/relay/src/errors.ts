/** How a failure at the upstream reaches the git client: an HTTP status with a plain-text body. */
import { PushgateError } from '@pushgate/core';

/** The codes of UpstreamError (listed in docs/ERRORS.md). */
export type UpstreamErrorCode =
  /** Connection refused, host unknown, reset before an answer. */
  | 'UPSTREAM_UNREACHABLE'
  /** No connection within the connect timeout, or no bytes within the idle timeout. */
  | 'UPSTREAM_TIMEOUT'
  /** The upstream answered 5xx. */
  | 'UPSTREAM_ERROR_STATUS'
  /** The upstream answered 401/403: it refused the gateway's own credential. */
  | 'UPSTREAM_AUTH_REFUSED'
  /** The upstream answered 3xx; redirects are never followed (the configured URL is the only target). */
  | 'UPSTREAM_REDIRECT'
  /** The upstream has no such repository (404). */
  | 'UPSTREAM_NOT_FOUND'
  /** The upstream refused the request itself with another 4xx (e.g. 413); the client sees that status. */
  | 'UPSTREAM_REQUEST_REFUSED'
  /** The connection broke while the answer was being streamed. */
  | 'UPSTREAM_STREAM_FAILED'
  /** The upstream's answer is not valid git protocol. */
  | 'UPSTREAM_BAD_ANSWER'
  /** A push cannot be sent as it is: the upstream lacks a capability it needs (report-status, atomic, delete-refs), or its commands cannot be encoded. */
  | 'UPSTREAM_PUSH_UNSENDABLE';

/** What an UpstreamError carries for machines; never a credential. */
export interface UpstreamErrorData {
  readonly upstream: string;
  /** The path requested at the upstream (no query, no credentials). */
  readonly path: string;
  /** The upstream's HTTP status when it answered. */
  readonly status?: number;
  /** The system error code (ECONNREFUSED, …) when the connection failed. */
  readonly syscallCode?: string;
}

/** The upstream could not serve a request; the gateway keeps serving and tells the client why. */
export class UpstreamError extends PushgateError<UpstreamErrorCode, UpstreamErrorData> {
  constructor(code: UpstreamErrorCode, message: string, data: UpstreamErrorData, cause?: unknown) {
    super(code, message, { data, cause, delivery: { kind: 'http', status: clientStatus(code, data.status) } });
  }
}

/**
 * The status the git client sees. Failures of the upstream or of the gateway's own credential are
 * 502 (the caller did nothing wrong and must not be asked for other credentials); a missing
 * repository stays 404 and other refusals keep their status so git's message stays meaningful.
 */
function clientStatus(code: UpstreamErrorCode, upstreamStatus: number | undefined): number {
  switch (code) {
    case 'UPSTREAM_NOT_FOUND':
      return 404;
    case 'UPSTREAM_REQUEST_REFUSED':
      return upstreamStatus !== undefined && upstreamStatus >= 400 && upstreamStatus < 500 ? upstreamStatus : 502;
    case 'UPSTREAM_UNREACHABLE':
    case 'UPSTREAM_TIMEOUT':
    case 'UPSTREAM_ERROR_STATUS':
    case 'UPSTREAM_AUTH_REFUSED':
    case 'UPSTREAM_REDIRECT':
    case 'UPSTREAM_STREAM_FAILED':
    case 'UPSTREAM_BAD_ANSWER':
    case 'UPSTREAM_PUSH_UNSENDABLE':
      return 502;
  }
}
