export { GitCommandError } from './git';
export * from './lock';
export * from './mirror';
