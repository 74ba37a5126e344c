#!/usr/bin/env node
// Links `pushgate` into node_modules/.bin of the workspace (npm links workspace packages' bins,
// not the root package's own): the same entry point as the repository's bin/pushgate.js.
import '../../../bin/pushgate.js';
