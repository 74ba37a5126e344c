/** The real-git harness: loopback upstream, isolated git client, test identity provider, large repositories, push capture, object and zlib builders, the hostile-input corpus. */
export * from './errors';
export * from './git-run';
export * from './git-env';
export * from './files';
export * from './fast-import';
export * from './cgi';
export * from './upstream';
export * from './pkt';
export * from './large-repo';
export * from './idp';
export * from './gateway';
export * from './git-objects';
export * from './zlib-builders';
export * from './push-capture';
export * from './hostile-corpus';
