export * from './errors';
export * from './header';
export * from './duration';
export * from './claims';
export * from './signing-keys';
export * from './issue';
export * from './authenticator';
