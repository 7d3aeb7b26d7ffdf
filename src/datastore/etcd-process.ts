// Starts and stops a throwaway single-member etcd on loopback: used by the contract tests, the
// datastore benchmark and the lab. Free ports come from binding port 0; data lives in a mkdtemp
// directory that stop() removes. Only the PID this module started is ever signalled.
//
//   startEtcd() ──spawn /usr/bin/etcd──► poll GET /health until ready ──► { url, stop, restart }

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError } from '../lib/index.ts';

export const ETCD_BINARY = '/usr/bin/etcd';

export interface EtcdProcess {
  /** Client URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  pid: number;
  dataDir: string;
  /** Stops etcd (SIGTERM, SIGKILL after 5 s) and removes the data directory. Idempotent. */
  stop(): Promise<void>;
  /** Stops etcd keeping its data and ports, then starts it again and waits until healthy. */
  restart(): Promise<void>;
  /** Stops etcd keeping its data (the store is "down") until restart() or stop(). */
  pause(): Promise<void>;
}

export interface StartEtcdOptions {
  binary?: string;
  /** Deadline for the first health check to pass (ms). */
  readyTimeoutMs?: number;
  /** Extra etcd flags, e.g. `['--auto-compaction-retention', '5m']`. */
  extraArgs?: string[];
}

/** True when the etcd binary tests need is installed. */
export function etcdAvailable(binary = ETCD_BINARY): boolean {
  return existsSync(binary);
}

// Cleanups of every etcd not yet stopped; run synchronously if this process exits first (a
// failing test, an uncaught error, SIGINT/SIGTERM/SIGHUP), so no etcd or data dir outlives it.
const unstopped = new Set<() => void>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const cleanAll = (): void => {
    for (const clean of [...unstopped]) clean();
  };
  process.on('exit', cleanAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanAll();
      process.removeListener(signal, onSignal);
      // Keep the default behaviour (die by the signal) unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdProcess> {
  const binary = options.binary ?? ETCD_BINARY;
  if (!existsSync(binary)) throw new CommandError(`Cannot start etcd: "${binary}" is not installed`);
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const dataDir = mkdtempSync(join(tmpdir(), 'brindle-etcd-'));
  installExitHook();

  let clientPort = 0;
  let peerPort = 0;
  let child: ChildProcess | undefined;
  let stopped = false;
  const cleanSync = (): void => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    unstopped.delete(cleanSync);
  };
  unstopped.add(cleanSync);

  const launch = async (): Promise<void> => {
    const url = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const args = [
      '--name', 'brindle',
      '--data-dir', join(dataDir, 'data'),
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `brindle=${peer}`,
      '--heartbeat-interval', '10',
      '--election-timeout', '100',
      '--logger', 'zap',
      '--log-level', 'error',
      ...(options.extraArgs ?? []),
    ];
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    let exited: string | undefined;
    proc.on('exit', (code, signal) => {
      exited = signal ? `signal ${signal}` : `code ${code}`;
    });
    proc.on('error', (err) => {
      exited = err.message;
    });
    child = proc;
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (exited !== undefined) {
        throw new CommandError(`etcd exited (${exited}) before it was ready: ${lastLines(stderr)}`);
      }
      if (await healthy(url)) return;
      if (Date.now() > deadline) {
        await terminate(proc);
        throw new CommandError(`etcd at "${url}" was not healthy within ${readyTimeoutMs} ms: ${lastLines(stderr)}`);
      }
      await delay(20);
    }
  };

  // Another process can grab a port between our probe and etcd's bind: retry with fresh ports.
  for (let attempt = 1; ; attempt++) {
    [clientPort, peerPort] = await freePorts(2);
    try {
      await launch();
      break;
    } catch (err) {
      const portClash = err instanceof CommandError && /address already in use/.test(err.message);
      if (!portClash || attempt >= 3) {
        cleanSync();
        throw err;
      }
      rmSync(join(dataDir, 'data'), { recursive: true, force: true });
    }
  }

  const url = `http://127.0.0.1:${clientPort}`;
  const handle: EtcdProcess = {
    url,
    pid: child!.pid!,
    dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child) await terminate(child);
      cleanSync();
    },
    async pause() {
      if (stopped) throw new CommandError(`etcd at "${url}" was stopped`);
      if (child) await terminate(child);
    },
    async restart() {
      if (stopped) throw new CommandError(`etcd at "${url}" was stopped`);
      if (child) await terminate(child);
      await launch();
      handle.pid = child!.pid!;
    },
  };
  return handle;
}

async function terminate(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: string };
    return res.ok && body.health === 'true';
  } catch {
    return false;
  }
}

/** Ports the kernel considers free right now (bound to port 0, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      return new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server));
      });
    }),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

function lastLines(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean);
  return lines.length ? lines.slice(-3).join(' | ') : '(no output)';
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
