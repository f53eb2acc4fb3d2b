// A reward module: Arctic's execution reward plus a small bonus for SQL of at most `maxChars` characters.
// Use it as the reward (`sqlrl serve --reward examples/custom-reward/short-sql.ts`, `loadReward(...)`), or name
// it under `modules:` in a YAML reward config to use its `short_sql` component there.
import type { RewardModule } from 'sqlrl';

export default {
  name: 'arctic+short-sql',
  preset: 'arctic',
  components: [
    { name: 'execution', params: { match: 1, mismatch: 0.1 } },
    { name: 'short_sql', weight: 0.1, params: { maxChars: 120 } },
  ],
  custom: {
    // only a correct query earns the bonus, so the model cannot buy reward with short wrong SQL
    short_sql: (ctx, params) => {
      const max = typeof params.maxChars === 'number' ? params.maxChars : 200;
      const chars = ctx.extraction.sql?.length ?? 0;
      return { value: ctx.verdict === 'match' && chars <= max ? 1 : 0, detail: { chars } };
    },
  },
} satisfies RewardModule;
