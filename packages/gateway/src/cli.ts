/**
 * The `pushgate` executable (bundled into dist/pushgate.js by scripts/build.mjs). It only wires the
 * process to the CLI: arguments, streams, environment, signals and the exit code.
 */
import { runCli } from './commands';

let signalled: NodeJS.Signals | undefined;
const waiters: ((signal: NodeJS.Signals) => void)[] = [];
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (signalled !== undefined) {
      // A second signal while draining: stop now.
      process.stderr.write(`pushgate: ${signal} again, exiting without waiting\n`);
      process.exit(1);
    }
    signalled = signal;
    for (const wake of waiters.splice(0)) wake(signal);
  });
}

// A bug must not take down every other client's fetch: report it loudly and keep serving.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`pushgate: unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
});

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  stopSignal: () => (signalled !== undefined ? Promise.resolve(signalled) : new Promise((resolve) => waiters.push(resolve))),
});
process.exitCode = code;
// Keep-alive sockets or timers of libraries must not keep a finished command alive.
setTimeout(() => process.exit(code), 1000).unref();
