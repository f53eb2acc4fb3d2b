#!/usr/bin/env node
// Entry point of the `sqlrl` command: runs the compiled CLI (built by `npm ci` through `prepare`).
import { main } from '../dist/cli/main.js';
main(process.argv).catch((err) => {
  process.stderr.write(`sqlrl: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
