/** The real-git harness: loopback upstream, isolated git client, test identity provider, large repositories, push capture, object and zlib builders, the hostile-input corpus. */
export * from './errors';
export * from './git-run';
export * from './git-env';
// The git server (upstream, fast-import, file maps) is a product package; tests reach it through here too.
export * from '@pushgate/git-server';
export * from './pkt';
export * from './large-repo';
export * from './idp';
export * from './gateway';
export * from './git-objects';
export * from './zlib-builders';
export * from './push-capture';
export * from './hostile-corpus';
