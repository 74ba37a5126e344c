/** Why a fixture repository could not be built: its description, or the git that builds it. */
import { PushgateError } from '@pushgate/core';

/** Codes of FixtureRepoError. */
export type FixtureRepoErrorCode =
  /** The description is not valid YAML, breaks the schema, or names what it does not define (a parent, a person, a path to rename). */
  | 'FIXTURE_REPO_INVALID'
  /** A git command of the build (init, fast-import, mktag, update-ref) failed; the message has git's stderr. */
  | 'FIXTURE_REPO_GIT_FAILED';

/** A fixture repository that cannot be built; the message names the repository and what is wrong. */
export class FixtureRepoError extends PushgateError<FixtureRepoErrorCode, { readonly repo: string }> {
  constructor(code: FixtureRepoErrorCode, repo: string, message: string, cause?: unknown) {
    super(code, message, { data: { repo }, cause, delivery: { kind: 'http', status: 500 } });
  }
}
