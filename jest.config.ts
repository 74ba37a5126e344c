/** @jest-config-loader esbuild-register */
import type { Config } from 'jest';

// Tests are TypeScript ES modules, transformed by swc (type-checking is `npm run typecheck`).
// Jest runs them as real ESM, hence `node --experimental-vm-modules` in the npm scripts.
const config: Config = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } },
    ],
  },
  testMatch: ['<rootDir>/packages/*/src/**/*.test.ts', '<rootDir>/scripts/**/*.test.ts'],
  testTimeout: 120_000,
  // git, http-backend and PostgreSQL run for real; two cores is what CI machines have.
  maxWorkers: 2,
};

export default config;
