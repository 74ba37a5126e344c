export * from './errors';
export * from './pkt';
export * from './reader';
export * from './sideband';
