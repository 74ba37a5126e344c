#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=2
// The `pushgate` command. `npm install` builds dist/ (the `prepare` script); this file only loads it.
//
// How it runs, measured with scripts/bench/pack.ts and scripts/bench/push.ts:
// --max-semi-space-size=2 (MiB): a push's inspection makes mostly short-lived buffers, and a smaller
//   young generation collects them sooner: its peak RSS drops by 20-40 MB at the same speed.
// MALLOC_*_THRESHOLD_=131072 (glibc): buffers of 128 KiB and more are mapped and unmapped on their
//   own, and freed memory is given back, instead of glibc keeping what a large push freed: the
//   gateway's idle RSS after a ~200 MB push 284 → 169 MB, at the same speed.
// V8 takes its flag only on the command line (or NODE_OPTIONS) and glibc reads its variables at
// start, so this file is run as a command (npx, node_modules/.bin, the docker image, testkit's
// child gateways); whoever runs `node bin/pushgate.js` instead must set them too.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/pushgate.js', import.meta.url));
if (!existsSync(bundle)) {
  process.stderr.write('pushgate: dist/pushgate.js is missing; run `npm install` (or `npm run build`) first\n');
  process.exit(1);
}
await import(bundle);
