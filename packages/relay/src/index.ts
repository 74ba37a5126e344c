export * from './errors';
export * from './upstream';
export * from './push';
