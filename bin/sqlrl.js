#!/usr/bin/env node
// Entry point of the `sqlrl` command: runs the compiled CLI (built by `npm ci` through `prepare`).
// `npx sqlrl …` starts it as npm -> sh -c -> node, and a SIGTERM sent to npm stops at sh: main() watches
// its launcher and stops gracefully when it goes (src/signals.ts), so no server or trainer is orphaned.
import { main } from '../dist/cli/main.js';
main(process.argv).catch((err) => {
  process.stderr.write(`sqlrl: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
