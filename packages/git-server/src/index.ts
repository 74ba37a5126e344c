/** A Git server for demos and tests: bare repositories served over smart HTTP by the real `git http-backend` on loopback. */
export * from './errors';
export * from './cgi';
export * from './fast-import';
export * from './files';
export * from './upstream';
