// The fast path for CNI calls: a long-running process on the host (the agent, or `brindle-cni
// serve`) answers plugin invocations over a local HTTP-over-unix-socket endpoint, so an ADD costs a
// shell and a curl instead of a Node start-up, and the datastore stays open between calls. The
// installed plugin is a tiny shell shim (install.ts) that uses this socket when a server is there
// and runs the self-contained bundle otherwise.
//
//   runtime ─exec─► shim (sh) ─curl --unix-socket─► CniServer ─runPlugin(env from headers, stdin = body)─► 200 result | 500 error JSON
//                       └─ no server / 421 wrong namespace / 503 ──► node bundle (self-contained)
//
// Awkward cases: a shim in another network namespace than the server (the server would program the
// wrong host) gets 421 and falls back; a stale socket file of a dead server is replaced on start.

import { mkdirSync, statSync, unlinkSync, chmodSync } from 'node:fs';
import { createConnection } from 'node:net';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { openDatastore } from '../datastore/index.ts';
import type { Datastore } from '../datastore/index.ts';
import { ProcessRunner } from '../os/index.ts';
import type { CommandRunner } from '../os/index.ts';
import { runPlugin } from './cni-plugin.ts';

export const DEFAULT_CNI_SOCKET = '/run/brindle/cni.sock';

/** Request headers the shim sets, and the variables they become. */
export const FORWARDED_HEADERS: ReadonlyArray<readonly [header: string, variable: string]> = [
  ['x-cni-command', 'CNI_COMMAND'],
  ['x-cni-containerid', 'CNI_CONTAINERID'],
  ['x-cni-netns', 'CNI_NETNS'],
  ['x-cni-ifname', 'CNI_IFNAME'],
  ['x-cni-args', 'CNI_ARGS'],
  ['x-cni-path', 'CNI_PATH'],
  ['x-brindle-datastore', 'BRINDLE_DATASTORE'],
];

export interface CniServerOptions {
  socketPath?: string;
  runner?: CommandRunner;
  hostname?: () => string;
  stderr?: { write(text: string): unknown };
}

export interface CniServer {
  socketPath: string;
  /** Requests answered so far. */
  readonly served: number;
  close(): Promise<void>;
}

/** A datastore that stays open: plugin code closes it after each call, the server at shutdown. */
function keepOpen(ds: Datastore): Datastore {
  return new Proxy(ds, {
    get(target, key) {
      if (key === 'close') return async () => undefined;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function netnsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

async function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startCniServer(opts: CniServerOptions = {}): Promise<CniServer> {
  const socketPath = opts.socketPath ?? DEFAULT_CNI_SOCKET;
  const runner = opts.runner ?? new ProcessRunner();
  const ownNetns = netnsInode('/proc/self/ns/net');
  const stores = new Map<string, Promise<Datastore>>();
  const open = (locator: string): Promise<Datastore> => {
    let p = stores.get(locator);
    if (!p) {
      p = openDatastore(locator);
      stores.set(locator, p);
      p.catch(() => stores.delete(locator));
    }
    return p.then(keepOpen);
  };
  let served = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const kind = req.url === '/v1/ipam' ? 'ipam' : req.url === '/v1/cni' ? 'cni' : undefined;
    if (req.method !== 'POST' || !kind) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    // The work happens in this process's namespace: only a shim in the same one may use it.
    const shimPid = String(req.headers['x-cni-shim-pid'] ?? '');
    if (!/^\d+$/.test(shimPid) || ownNetns === undefined || netnsInode(`/proc/${shimPid}/ns/net`) !== ownNetns) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('the plugin runs in another network namespace than this server\n');
      return;
    }
    const env: NodeJS.ProcessEnv = {};
    for (const [header, variable] of FORWARDED_HEADERS) {
      const v = req.headers[header];
      if (typeof v === 'string' && v !== '') env[variable] = v;
    }
    const stdin = await readBody(req);
    const out = await runPlugin(kind, stdin, {
      env,
      runner,
      openDatastore: open,
      hostname: opts.hostname,
      stderr: opts.stderr,
      crash: () => undefined,
    });
    served++;
    res.writeHead(out.exitCode === 0 ? 200 : 500, { 'content-type': 'application/json' }).end(out.stdout);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(503, { 'content-type': 'text/plain' });
      res.end(`server error: ${(err as Error).message}\n`);
    });
  });
  // Runtimes call with short timeouts of their own; keep idle keep-alive sockets out of the way.
  server.keepAliveTimeout = 1000;

  mkdirSync(dirname(socketPath), { recursive: true });
  if (await socketAnswers(socketPath)) throw new Error(`Another CNI server already answers on "${socketPath}"`);
  try {
    unlinkSync(socketPath);
  } catch {
    // no stale socket
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);

  return {
    socketPath,
    get served() {
      return served;
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      for (const p of stores.values()) await p.then((ds) => ds.close()).catch(() => undefined);
      stores.clear();
      try {
        unlinkSync(socketPath);
      } catch {
        // already gone
      }
    },
  };
}

/** `brindle-cni serve [--socket PATH]`: runs until SIGTERM/SIGINT. */
export async function serveCommand(args: readonly string[]): Promise<number> {
  let socketPath = DEFAULT_CNI_SOCKET;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--socket' && args[i + 1]) socketPath = args[++i];
    else if (args[i].startsWith('--socket=')) socketPath = args[i].slice('--socket='.length);
    else {
      process.stderr.write(`brindle-cni serve: unknown argument "${args[i]}" (usage: brindle-cni serve [--socket PATH])\n`);
      return 2;
    }
  }
  const server = await startCniServer({ socketPath });
  process.stdout.write(`brindle-cni: serving CNI requests on ${socketPath}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await server.close();
  return 0;
}
