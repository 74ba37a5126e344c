/** Building each fixture repository once per run, wherever several cases use it. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRepoFile, type BuiltRepo } from './build';

/**
 * Fixture repositories described in `dir` (`<name>.yaml`), built on first use into a temporary
 * directory and reused for the rest of the run; `dispose()` removes them.
 */
export class FixtureRepos {
  private readonly builds = new Map<string, Promise<BuiltRepo>>();
  private root: Promise<string> | undefined;

  /** Repositories are described in `dir`; built ones go under `workDir` (a fresh temporary directory when omitted). */
  constructor(
    readonly dir: string,
    private readonly workDir?: string,
  ) {}

  /** The built repository `name` (`<dir>/<name>.yaml`), building it the first time. */
  get(name: string): Promise<BuiltRepo> {
    let build = this.builds.get(name);
    if (build === undefined) {
      build = this.where().then((root) => buildRepoFile(join(this.dir, `${name}.yaml`), join(root, `${name}.git`)));
      this.builds.set(name, build);
    }
    return build;
  }

  /** A scratch directory under the run's root (for mirrors and packs). */
  async scratch(prefix: string): Promise<string> {
    return mkdtemp(join(await this.where(), `${prefix}-`));
  }

  /** Removes every repository built (when the root was made here). */
  async dispose(): Promise<void> {
    if (this.root === undefined || this.workDir !== undefined) return;
    await rm(await this.root, { recursive: true, force: true });
  }

  private where(): Promise<string> {
    this.root ??= this.workDir !== undefined ? Promise.resolve(this.workDir) : mkdtemp(join(tmpdir(), 'pushgate-fixtures-'));
    return this.root;
  }
}
