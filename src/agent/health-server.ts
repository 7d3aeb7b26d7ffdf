// The agent's HTTP endpoints: /liveness (the loop is turning), /readiness (in sync with the
// datastore and the dataplane programmed at least once) and /metrics (Prometheus text). Bound to
// loopback by default; the lab binds it inside each host namespace.

import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HealthSource {
  live(): { ok: boolean; detail: string };
  ready(): { ok: boolean; detail: string };
  metrics(): string;
}

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(source: HealthSource, port: number, host = '127.0.0.1'): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (path === '/liveness' || path === '/readiness') {
      const r = path === '/liveness' ? source.live() : source.ready();
      answer(r.ok ? 200 : 503, `${r.ok ? 'ok' : 'not ok'}: ${r.detail}\n`);
    } else if (path === '/metrics') {
      answer(200, source.metrics(), 'text/plain; version=0.0.4; charset=utf-8');
    } else {
      answer(404, 'not found: try /liveness, /readiness or /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
