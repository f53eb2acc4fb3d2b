// The reward server: sqlrl's rewards over HTTP for the GPU RL engines. Stateless apart from the
// dataset index and the sandbox pool, so it scales out by adding replicas.
//   POST /v1/rewards   {"items": [{"completion", "example_id", "prefix"?} | {"completion", "db_id", "gold_sql", "prefix"?}]}
//   POST /get_reward   OpenRLHF's remote reward protocol ({"query", "prompts", "labels"})
//   GET  /health (also tells clients the body limit and item cap), GET /metrics (Prometheus text)
// A completion the sandbox could not judge (a worker failed twice, the database is missing) is answered
// as such, never as wrong SQL: in /v1/rewards with status infra_error / db_missing, `excluded: true` and
// reward null; in OpenRLHF's protocol, which has no place for it, with a 503 (infra_error: retry) or a
// 500 (db_missing). close() drains: in-flight requests finish, idle keep-alive connections are closed.
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { dbPathFor } from '../data/files.js';
import type { Example } from '../data/types.js';
import { RewardScorer, type RewardResult } from '../reward/scorer.js';
import type { LoadedReward, RewardConfig } from '../reward/presets.js';
import type { SqlExecutor } from '../sql/executor.js';
import type { PredictionBudget } from '../sql/match.js';
import { trackConnections } from './graceful.js';
import { locateResponse, promptPrefill } from './openrlhf.js';

export interface RewardServerOptions {
  examples: Example[];
  /** Where `db_id` items find their database when no example names it. */
  dbDir?: string;
  reward: RewardConfig | string | LoadedReward;
  executor: SqlExecutor;
  host?: string;
  port?: number;
  /** Require `Authorization: Bearer <token>` (or `?token=` in the URL, for clients that send no headers). */
  token?: string;
  /** Largest accepted request body in bytes (default 16 MiB). */
  bodyLimit?: number;
  /** Most items in one /v1/rewards request (default 4096). */
  maxItems?: number;
  /** Prefix for items that carry none: the text the prompt template prefills in the assistant turn (e.g. '<think>\n'). */
  prefix?: string;
  /** Told (at most once a minute per kind) about refused tokens and unlocatable prompts, which clients may only log quietly. */
  onWarning?: (message: string) => void;
  /** close() waits this long for in-flight requests, then drops them (default: the executor's query timeout). */
  drainMs?: number;
  /** Database files of the loaded examples that are missing, reported by /health. */
  missingDbPaths?: string[];
  /** A prediction's time budget relative to its gold's (default: the scorer's); false: the full timeout. */
  budget?: PredictionBudget | false;
}

export interface RewardServer {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

class BadRequest extends Error {
  readonly statusCode = 400;
}

/** The server could not compute a reward (sandbox failure, missing database): a 5xx, not the client's fault. */
class NoReward extends Error {
  constructor(
    message: string,
    readonly statusCode: 500 | 503,
  ) {
    super(message);
  }
}

const Item = z.union([
  z.object({ completion: z.string(), example_id: z.string(), prefix: z.string().optional() }).strict(),
  z.object({ completion: z.string(), db_id: z.string(), gold_sql: z.string(), prefix: z.string().optional() }).strict(),
]);

const OpenRlhfBody = z.object({
  query: z.array(z.string()),
  prompts: z.array(z.string()),
  labels: z.array(z.union([z.string(), z.record(z.string(), z.unknown())])),
});

const sameSecret = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** Reads a request body to its end, discarding it; false if the client went away. */
function drain(stream: NodeJS.ReadableStream): Promise<boolean> {
  return new Promise((resolve) => {
    let ended = false;
    stream.on('data', () => {});
    stream.once('end', () => {
      ended = true;
      resolve(true);
    });
    stream.once('error', () => resolve(false));
    stream.once('close', () => resolve(ended));
  });
}

/** A warning per kind at most once a minute, with the count of those held back. */
function rateLimited(sink: ((m: string) => void) | undefined): (kind: string, message: string) => void {
  const last = new Map<string, { at: number; held: number }>();
  return (kind, message) => {
    if (!sink) return;
    const now = Date.now();
    const s = last.get(kind);
    if (s && now - s.at < 60_000) {
      s.held++;
      return;
    }
    sink(s?.held ? `${message} (${s.held} more since the last warning)` : message);
    last.set(kind, { at: now, held: 0 });
  };
}

function oneLine(err: z.ZodError): string {
  const i = err.issues[0]!;
  return `${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`;
}

/** Prometheus counters and a latency histogram, by route. */
class Metrics {
  requests = new Map<string, number>();
  errors = new Map<string, number>();
  rewards = 0;
  private readonly buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  private readonly hist = new Map<string, { counts: number[]; sum: number; n: number }>();

  observe(route: string, seconds: number, status: number): void {
    this.requests.set(route, (this.requests.get(route) ?? 0) + 1);
    if (status >= 400) this.errors.set(`${route} ${status}`, (this.errors.get(`${route} ${status}`) ?? 0) + 1);
    const h = this.hist.get(route) ?? { counts: this.buckets.map(() => 0), sum: 0, n: 0 };
    this.buckets.forEach((b, i) => {
      if (seconds <= b) h.counts[i]!++;
    });
    h.sum += seconds;
    h.n++;
    this.hist.set(route, h);
  }

  text(executor: SqlExecutor): string {
    const lines = ['# TYPE sqlrl_requests_total counter'];
    for (const [r, n] of this.requests) lines.push(`sqlrl_requests_total{route="${r}"} ${n}`);
    lines.push('# TYPE sqlrl_request_errors_total counter');
    for (const [k, n] of this.errors) {
      const [r, s] = k.split(' ');
      lines.push(`sqlrl_request_errors_total{route="${r}",status="${s}"} ${n}`);
    }
    lines.push('# TYPE sqlrl_request_duration_seconds histogram');
    for (const [r, h] of this.hist) {
      this.buckets.forEach((b, i) => lines.push(`sqlrl_request_duration_seconds_bucket{route="${r}",le="${b}"} ${h.counts[i]}`));
      lines.push(`sqlrl_request_duration_seconds_bucket{route="${r}",le="+Inf"} ${h.n}`);
      lines.push(`sqlrl_request_duration_seconds_sum{route="${r}"} ${h.sum}`, `sqlrl_request_duration_seconds_count{route="${r}"} ${h.n}`);
    }
    lines.push(
      '# TYPE sqlrl_rewards_total counter',
      `sqlrl_rewards_total ${this.rewards}`,
      '# TYPE sqlrl_sql_queries_total counter',
      `sqlrl_sql_queries_total ${executor.stats.queries}`,
      '# TYPE sqlrl_sql_timeouts_total counter',
      `sqlrl_sql_timeouts_total ${executor.stats.timeouts}`,
      '# TYPE sqlrl_gold_cache_hits_total counter',
      `sqlrl_gold_cache_hits_total ${executor.stats.goldCacheHits}`,
      '# TYPE sqlrl_sql_worker_deaths_total counter',
      `sqlrl_sql_worker_deaths_total ${executor.stats.workerDeaths}`,
      '# TYPE sqlrl_sql_infra_errors_total counter',
      `sqlrl_sql_infra_errors_total ${executor.stats.infraErrors}`,
      '# TYPE sqlrl_sql_workers gauge',
      `sqlrl_sql_workers ${executor.load().workers}`,
      '# TYPE sqlrl_sql_stuck_workers gauge',
      `sqlrl_sql_stuck_workers ${executor.load().stuck}`,
    );
    return lines.join('\n') + '\n';
  }
}

export async function startRewardServer(opts: RewardServerOptions): Promise<RewardServer> {
  const scorer = new RewardScorer(opts.executor, opts.reward, opts.budget !== undefined ? { budget: opts.budget } : {});
  const byId = new Map(opts.examples.map((e) => [e.id, e]));
  const dbById = new Map(opts.examples.map((e) => [e.dbId, e.dbPath]));
  const metrics = new Metrics();
  const maxItems = opts.maxItems ?? 4096;
  const bodyLimit = opts.bodyLimit ?? 16 * 1024 * 1024;
  const warn = rateLimited(opts.onWarning);
  const app = Fastify({ bodyLimit, forceCloseConnections: false, logger: false });
  const connections = trackConnections(app.server);

  const dbPathOf = (dbId: string, where: string): string => {
    const p = dbById.get(dbId) ?? (opts.dbDir ? dbPathFor(opts.dbDir, dbId) : undefined);
    if (!p) throw new BadRequest(`${where}: unknown db_id '${dbId}' (not in the loaded dataset; start sqlrl serve with --db-dir)`);
    return p;
  };
  const resolveLabel = (label: string | Record<string, unknown>, where: string): { dbPath: string; goldSql: string; prefix?: string } => {
    let obj: Record<string, unknown> | null = typeof label === 'object' ? label : null;
    if (typeof label === 'string' && label.trim().startsWith('{')) {
      try {
        obj = JSON.parse(label) as Record<string, unknown>;
      } catch {
        throw new BadRequest(`${where}: label is not valid JSON`);
      }
    }
    if (obj) {
      if (typeof obj.db_id !== 'string' || typeof obj.gold_sql !== 'string') throw new BadRequest(`${where}: a JSON label needs string fields db_id and gold_sql`);
      if (obj.prefix !== undefined && typeof obj.prefix !== 'string') throw new BadRequest(`${where}: a JSON label's prefix must be a string`);
      return { dbPath: dbPathOf(obj.db_id, where), goldSql: obj.gold_sql, ...(typeof obj.prefix === 'string' ? { prefix: obj.prefix } : {}) };
    }
    const ex = byId.get(label as string);
    if (!ex) throw new BadRequest(`${where}: unknown example id '${label}'`);
    return { dbPath: ex.dbPath, goldSql: ex.goldSql };
  };

  const tooLarge = (size: string) => ({ error: `payload too large: ${size} is over the server's body limit of ${bodyLimit} bytes (split the batch, or start sqlrl serve with a larger --body-limit)`, body_limit: bodyLimit });
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    (req as FastifyRequest & { t0?: number }).t0 = performance.now();
    // An over-limit body announced by Content-Length is read to its end (and dropped) before the 413: a
    // client that sends its whole body before reading (Python's urllib) otherwise sees the connection close
    // mid-send (a broken pipe) instead of the answer. Beyond 16× the limit the connection is just closed.
    const announced = Number(req.headers['content-length']);
    if (announced > bodyLimit) {
      const drained = announced <= 16 * bodyLimit && (await drain(req.raw));
      if (!drained) void reply.header('connection', 'close');
      await reply.code(413).send(tooLarge(`${announced} bytes`));
      return;
    }
    if (!opts.token || req.url === '/health') return;
    const header = req.headers.authorization;
    const query = (req.query as { token?: unknown } | undefined)?.token;
    const given = header?.startsWith('Bearer ') ? header.slice(7) : typeof query === 'string' ? query : null;
    if (given === null || !sameSecret(given, opts.token)) {
      warn('auth', `sqlrl serve: refused ${req.method} ${req.url.split('?')[0]} from ${req.ip}: ${given === null ? 'no token' : 'wrong token'} (OpenRLHF sends no Authorization header: add ?token=... to its URL, or run without --token on a private address)`);
      await reply.code(401).send({ error: 'missing or wrong bearer token (send Authorization: Bearer <token>, or ?token=<token> in the URL)' });
    }
  });
  app.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    const t0 = (req as FastifyRequest & { t0?: number }).t0 ?? performance.now();
    metrics.observe(req.routeOptions.url ?? 'unknown', (performance.now() - t0) / 1000, reply.statusCode);
  });
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      void reply.code(413).send(tooLarge(req.headers['content-length'] ? `${req.headers['content-length']} bytes` : 'the request body'));
      return;
    }
    if (status === 503) void reply.header('retry-after', '1');
    void reply.code(status).send({ error: err.message.split('\n')[0] });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: `no route ${req.method} ${req.url} (see GET /health; POST /v1/rewards, POST /get_reward)` });
  });

  const summarize = (r: RewardResult) =>
    r.excluded
      ? { reward: null, components: r.components, status: r.status, sql: r.sql, excluded: true, error: String(r.details.error) }
      : { reward: r.reward, components: r.components, status: r.status, sql: r.sql };

  app.post('/v1/rewards', async (req) => {
    const body = req.body as { items?: unknown } | null;
    if (!body || typeof body !== 'object' || !Array.isArray(body.items)) throw new BadRequest('body must be {"items": [...]}');
    if (body.items.length > maxItems) throw new BadRequest(`too many items: ${body.items.length} (at most ${maxItems} per request)`);
    const items = body.items.map((raw, i) => {
      const p = Item.safeParse(raw);
      if (!p.success) throw new BadRequest(`items.${i}: needs {completion, example_id} or {completion, db_id, gold_sql} (${oneLine(p.error)})`);
      const it = p.data;
      const prefix = it.prefix ?? opts.prefix;
      const pre = prefix !== undefined ? { prefix } : {};
      if ('example_id' in it) return { completion: it.completion, ...resolveLabel(it.example_id, `items.${i}`), ...pre };
      return { completion: it.completion, dbPath: dbPathOf(it.db_id, `items.${i}`), goldSql: it.gold_sql, ...pre };
    });
    const results = await scorer.score(items);
    metrics.rewards += results.length;
    return { results: results.map(summarize) };
  });

  const openRlhf = async (req: FastifyRequest) => {
    const p = OpenRlhfBody.safeParse(req.body);
    if (!p.success) throw new BadRequest(`body must be {"query": [...], "prompts": [...], "labels": [...]} (${oneLine(p.error)})`);
    const { query, prompts, labels } = p.data;
    if (labels.length !== query.length || prompts.length !== query.length) throw new BadRequest('query, prompts and labels must have the same length');
    // `query` is prompt + response with special tokens kept: the response is what follows the prompt, EOS and
    // padding stripped. A prompt not found in `query` (truncated, or decoded differently) is not guessed at:
    // the item gets status prompt_not_found and reward 0 (in GRPO all samples of that prompt share it, so the
    // group carries no signal rather than a wrong one).
    const located = query.map((q, i) => {
      const label = resolveLabel(labels[i]!, `labels.${i}`);
      const completion = locateResponse(q, prompts[i]!);
      if (completion === null) return null;
      const prefix = label.prefix ?? promptPrefill(prompts[i]!) ?? opts.prefix ?? '';
      return { completion, dbPath: label.dbPath, goldSql: label.goldSql, prefix };
    });
    const missing = located.filter((x) => x === null).length;
    if (missing) warn('prompt', `sqlrl serve: /get_reward: ${missing} of ${query.length} prompts not found in their query (truncated prompts? raise OpenRLHF's --prompt_max_len); scored 0 with status prompt_not_found`);
    const index = located.flatMap((x, i) => (x === null ? [] : [i]));
    const scored = await scorer.score(located.filter((x) => x !== null));
    const failed = scored.findIndex((r) => r.excluded);
    if (failed >= 0) {
      const r = scored[failed]!;
      const what = r.status === 'db_missing' ? 'the database is missing' : 'the SQL sandbox failed; retry';
      throw new NoReward(`labels.${index[failed]}: no reward: ${what} (${String(r.details.error)})`, r.status === 'db_missing' ? 500 : 503);
    }
    metrics.rewards += scored.length;
    let k = 0;
    const results = located.map((x) => (x === null ? null : scored[k++]!));
    const names = [...new Set(scored.flatMap((r) => Object.keys(r.components)))];
    const match = results.map((r) => (r?.status === 'match' ? 1 : 0));
    return {
      rewards: results.map((r) => r?.reward ?? 0),
      scores: match,
      extra_logs: {
        ...Object.fromEntries(names.map((n) => [`reward_${n}`, results.map((r) => r?.components[n] ?? 0)])),
        execution_match: match,
        prompt_not_found: results.map((r) => (r === null ? 1 : 0)),
      },
      status: results.map((r) => r?.status ?? 'prompt_not_found'),
    };
  };
  app.post('/get_reward', openRlhf);
  app.post('/v1/openrlhf', openRlhf);

  app.get('/health', async () => ({
    ok: true,
    examples: opts.examples.length,
    reward: scorer.design.name,
    mode: scorer.design.mode,
    extract: scorer.design.extract,
    prefix: opts.prefix ?? '',
    body_limit: bodyLimit,
    max_items: maxItems,
    missing_databases: opts.missingDbPaths?.length ?? 0,
  }));
  app.get('/metrics', async (_req, reply) => {
    void reply.type('text/plain; version=0.0.4');
    return metrics.text(opts.executor);
  });

  const address = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 8000 });
  const drainMs = opts.drainMs ?? opts.executor.timeoutMs;
  return { url: address, app, close: async () => void (await connections.drain(() => app.close(), drainMs)) };
}
