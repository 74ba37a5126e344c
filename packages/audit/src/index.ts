export * from './masker';
export * from './events';
export * from './recorder';
