export * from './oid';
export * from './errors';
export * from './limits';
export * from './logger';
export * from './identity';
export * from './refs';
export * from './progress';
export * from './pacer';
