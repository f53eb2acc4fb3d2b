import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { addSchemaOptions, resolveOptions, flagName } from '../../src/cli/options.js';
import { UsageError } from '../../src/errors.js';

const schema = z.object({
  dataDir: z.string().describe('dataset directory'),
  timeoutMs: z.number().positive().default(30000).describe('per-query timeout'),
  mode: z.enum(['spider', 'bird']).default('spider').describe('comparison'),
  skipMissingDb: z.boolean().default(false).describe('skip missing dbs'),
});

function parse(args: string[]) {
  const cmd = addSchemaOptions(new Command('x').exitOverride(), schema);
  cmd.parse(args, { from: 'user' });
  return resolveOptions(cmd, schema);
}

test('flag names are kebab-case of the field names', () => {
  assert.equal(flagName('skipMissingDb'), 'skip-missing-db');
});

test('defaults apply and flags override them', () => {
  assert.deepEqual(parse(['--data-dir', 'd']), { dataDir: 'd', timeoutMs: 30000, mode: 'spider', skipMissingDb: false });
  assert.deepEqual(parse(['--data-dir', 'd', '--timeout-ms', '5', '--skip-missing-db']).timeoutMs, 5);
});

test('YAML config fills fields, flags beat it, unknown fields are named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-opt-'));
  const f = join(dir, 'c.yaml');
  writeFileSync(f, 'data-dir: fromfile\ntimeout_ms: 7\nmode: bird\n');
  assert.deepEqual(parse(['--config', f]), { dataDir: 'fromfile', timeoutMs: 7, mode: 'bird', skipMissingDb: false });
  assert.equal(parse(['--config', f, '--mode', 'spider']).mode, 'spider');
  writeFileSync(f, 'dataDir: x\nbogus: 1\n');
  assert.throws(() => parse(['--config', f]), (e: Error) => e instanceof UsageError && /unknown field 'bogus'/.test(e.message));
});

test('a missing required field is one line naming it', () => {
  assert.throws(() => parse([]), (e: Error) => e instanceof UsageError && /dataDir/.test(e.message) && !e.message.includes('\n'));
});
