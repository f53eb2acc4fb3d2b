// Runs the sqlrl CLI from source (tests spawn it as `node --import tsx test/helpers/sqlrl-cli.ts ARGS`).
import { main } from '../../src/cli/main.js';

main(process.argv).catch((err) => {
  process.stderr.write(`sqlrl: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
