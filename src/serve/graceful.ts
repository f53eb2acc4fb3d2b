// Closing an HTTP server gracefully: stop accepting, let in-flight requests finish (each response then
// closes its connection), close idle keep-alive connections at once, and destroy whatever is still open
// at a deadline. Node's server.close() alone waits for every kept-alive connection to time out (Fastify's
// keepAliveTimeout is 72 s), which is how `sqlrl serve` used to take 85-95 s to exit with idle clients.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionTracker {
  /**
   * Runs `stopAccepting` (e.g. Fastify's app.close(), which resolves once every connection is gone) and
   * closes connections as they become idle; after `deadlineMs` destroys the rest. Resolves when
   * `stopAccepting` does, with how many connections had to be destroyed.
   */
  drain(stopAccepting: () => Promise<unknown>, deadlineMs: number): Promise<{ forced: number }>;
  /** Open connections and requests in flight (for tests and logs). */
  counts(): { connections: number; inFlight: number };
}

export function trackConnections(server: Server): ConnectionTracker {
  /** Responses in flight per open connection (an empty set: an idle keep-alive connection). */
  const open = new Map<Socket, Set<ServerResponse>>();
  let draining = false;

  server.on('connection', (socket: Socket) => {
    open.set(socket, new Set());
    socket.once('close', () => open.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const inFlight = open.get(socket);
    if (!inFlight) return;
    inFlight.add(res);
    if (draining && !res.headersSent) res.setHeader('connection', 'close');
    res.once('close', () => {
      inFlight.delete(res);
      if (draining && inFlight.size === 0) socket.destroySoon();
    });
  });

  return {
    async drain(stopAccepting, deadlineMs) {
      draining = true;
      for (const [socket, inFlight] of open) {
        if (inFlight.size === 0) socket.destroy();
        // Answer, then hang up: the client opens a new connection (to another replica) for its next request.
        else for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
      }
      let forced = 0;
      const timer = setTimeout(() => {
        for (const socket of open.keys()) {
          forced++;
          socket.destroy();
        }
      }, deadlineMs);
      try {
        await stopAccepting();
      } finally {
        clearTimeout(timer);
      }
      return { forced };
    },
    counts() {
      let inFlight = 0;
      for (const s of open.values()) inFlight += s.size;
      return { connections: open.size, inFlight };
    },
  };
}
