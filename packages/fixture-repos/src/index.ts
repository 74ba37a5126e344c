/** @pushgate/fixture-repos: repositories built deterministically from declarative YAML descriptions. */
export * from './errors';
export * from './description';
export * from './content';
export * from './build';
export * from './cache';
