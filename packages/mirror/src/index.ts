export * from './git';
export * from './lock';
export * from './mirror';
