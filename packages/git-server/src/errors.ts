/** Errors of the git server: each code names one way serving or creating a repository can fail. */
import { PushgateError } from '@pushgate/core';

/** The codes of GitServerError. */
export type GitServerErrorCode =
  /** A repository name or a path in a commit is not a safe relative path. */
  | 'GIT_SERVER_BAD_REPO_PATH'
  /** `git http-backend` answered something that is not a CGI response. */
  | 'GIT_SERVER_CGI_BAD_RESPONSE'
  /** A git command the server ran to create a repository or write commits failed. */
  | 'GIT_SERVER_GIT_FAILED'
  /** A commit given to fast-import is malformed (a signature with `<`, a stream of the wrong size). */
  | 'GIT_SERVER_BAD_COMMIT';

/** A git server operation that failed; `data` carries the command, exit code and stderr where there is one. */
export class GitServerError extends PushgateError<GitServerErrorCode, Record<string, unknown>> {
  constructor(code: GitServerErrorCode, message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, { data, cause, delivery: { kind: 'http', status: 500 } });
  }
}
