// `sqlrl dashboard`: a local web page over one or more run directories, updated live by
// server-sent events as the trainer appends to metrics.jsonl / samples.jsonl. No database;
// every asset is served from this package (works offline).
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import Fastify, { type FastifyInstance } from 'fastify';
import { trackConnections } from '../graceful.js';
import { dashboardHtml } from './page.js';
import { RunFollower, type JsonRecord } from './run-files.js';

export interface DashboardOptions {
  runDirs: string[];
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** How often the run files are polled for appended lines. */
  pollMs?: number;
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);

function asset(path: string): string {
  return readFileSync(require.resolve(path), 'utf8');
}

/** Steps that have samples, and how many, for the sample browser's step picker. */
function sampleSteps(samples: JsonRecord[]): { step: number; n: number }[] {
  const counts = new Map<number, number>();
  for (const s of samples) {
    const step = typeof s.step === 'number' ? s.step : -1;
    counts.set(step, (counts.get(step) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => a[0] - b[0]).map(([step, n]) => ({ step, n }));
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const followers = opts.runDirs.map((dir, i) => new RunFollower(i, dir));
  for (const f of followers) f.poll();
  const uplotJs = asset('uplot/dist/uPlot.iife.min.js');
  const uplotCss = asset('uplot/dist/uPlot.min.css');
  const app: FastifyInstance = Fastify({ logger: false, forceCloseConnections: false });
  const connections = trackConnections(app.server);
  const clients = new Set<(event: string, data: unknown) => void>();
  /** Open event streams: never-ending responses, ended at close so their connections can go. */
  const streams = new Set<ServerResponse>();

  const timer = setInterval(() => {
    for (const f of followers) {
      const { metrics, samples, changed } = f.poll();
      if (!changed) continue;
      const payload = {
        id: f.state.id,
        metrics,
        newSamples: samples.length,
        sampleSteps: samples.length ? sampleSteps(f.state.samples) : undefined,
        problems: f.state.problems,
      };
      for (const send of clients) send('update', payload);
    }
  }, opts.pollMs ?? 500);
  timer.unref();

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(dashboardHtml()));
  app.get('/assets/uplot.js', async (_req, reply) => reply.type('text/javascript').send(uplotJs));
  app.get('/assets/uplot.css', async (_req, reply) => reply.type('text/css').send(uplotCss));
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());
  app.get('/api/runs', async () =>
    followers.map((f) => ({
      id: f.state.id,
      name: f.state.name,
      dir: f.state.dir,
      config: f.state.config,
      problems: f.state.problems,
      metrics: f.state.metrics,
      sampleSteps: sampleSteps(f.state.samples),
    })),
  );
  app.get<{ Params: { id: string }; Querystring: { step?: string } }>('/api/runs/:id/samples', async (req, reply) => {
    const f = followers[Number(req.params.id)];
    if (!f) return reply.code(404).send({ error: `no run ${req.params.id}` });
    const step = req.query.step === undefined ? undefined : Number(req.query.step);
    return f.state.samples.filter((s) => step === undefined || s.step === step);
  });
  app.get('/api/stream', (req, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    reply.raw.write(': connected\n\n');
    const send = (event: string, data: unknown) => reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    clients.add(send);
    streams.add(reply.raw);
    req.raw.on('close', () => {
      clients.delete(send);
      streams.delete(reply.raw);
    });
  });

  const address = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
  return {
    url: address.replace('[::1]', 'localhost'),
    async close() {
      clearInterval(timer);
      clients.clear();
      for (const res of streams) res.end();
      await connections.drain(() => app.close(), 2000);
    },
  };
}
