// Bundles the CLI (packages/gateway/src/cli.ts and the workspace packages it imports) into
// dist/pushgate.js, and the content prescan's worker into dist/prescan-worker.js. Third-party dependencies stay external and load from node_modules.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const external = Object.keys(pkg.dependencies ?? {});

await build({
  // The content prescan's worker thread is its own script beside the CLI's (packages/policy/src/prescan.ts).
  entryPoints: { pushgate: 'packages/gateway/src/cli.ts', 'prescan-worker': 'packages/policy/src/prescan-worker.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  external,
  logLevel: 'warning',
  // Some dependencies are CommonJS and call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __pgCreateRequire } from 'node:module'; const require = __pgCreateRequire(import.meta.url);" },
});
