// sqlrl as a library: load a dataset, build a prompt, score completions (a preset and a custom reward
// module), evaluate predictions by execution. Run it with `npx tsx examples/library.ts`.
import { evaluatePredictions, loadDataset, loadReward, promptMessages, RewardScorer, SqlExecutor, templatePrefill } from 'sqlrl';

// The bundled sample (two SQLite databases, 36 questions); Spider: loadDataset({ dataset: 'spider', dataDir }).
const examples = loadDataset({ dataset: 'sample' });
const ex = examples[0]!;

// The prompt training and evaluation share; the 'think' template prefills '<think>\n' in the assistant turn,
// so the model's completion starts inside the think block.
const messages = promptMessages(ex, { template: 'think' });
const prefix = templatePrefill('think');
console.log(`${messages.length} message(s); prompt ends with ${JSON.stringify(messages.at(-1)!.content.slice(-40))}; prefill ${JSON.stringify(prefix)}`);

const executor = new SqlExecutor({ workers: 2 });
try {
  // Score completions with SQL-R1's reward: each term separately.
  const completion = `One row per customer: count them.\n</think>\n<answer>\n\`\`\`sql\n${ex.goldSql}\n\`\`\`\n</answer>`;
  const sqlR1 = new RewardScorer(executor, 'sql-r1');
  const [right, wrong] = await sqlR1.score([
    { completion, prefix, dbPath: ex.dbPath, goldSql: ex.goldSql },
    { completion: completion.replace('customers', 'products'), prefix, dbPath: ex.dbPath, goldSql: ex.goldSql },
  ]);
  console.log(`sql-r1: right ${right!.reward.toFixed(3)} ${JSON.stringify(right!.components)}; wrong ${wrong!.reward} (${wrong!.status})`);

  // A custom reward module: the built-in execution component plus its own short_sql component.
  const custom = new RewardScorer(executor, await loadReward('examples/custom-reward/short-sql.ts'));
  const [c] = await custom.score([{ completion: `\`\`\`sql\n${ex.goldSql}\n\`\`\``, dbPath: ex.dbPath, goldSql: ex.goldSql }]);
  console.log(`${custom.design.name}: ${c!.reward} ${JSON.stringify(c!.components)}`);

  // Execution accuracy of predictions (one per example, in order), as `sqlrl eval --pred` computes it.
  const predictions = examples.map((e, i) => (i % 4 === 3 ? 'SELECT 1' : e.goldSql));
  const report = await evaluatePredictions({ examples, predictions, executor, mode: 'spider' });
  console.log(`EX ${(100 * report.summary.execution_accuracy).toFixed(1)}% on ${report.summary.evaluated} examples`);
} finally {
  await executor.close();
}
