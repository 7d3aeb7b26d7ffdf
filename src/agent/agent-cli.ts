// The brindle-agent command line: parses flags, opens the datastore (retrying while it is down),
// works out this host's name and address, builds the drivers for this process's own network
// namespace and runs an Agent with its health server and (optionally) the CNI fast-path socket until
// SIGTERM or SIGINT. Logs are JSON lines on stderr.
//
//   src/bin/brindle-agent.ts ──runAgentCli(argv)──► flags ──► Agent(datastore, drivers) + health + CNI socket

import { hostname as osHostname } from 'node:os';
import { parseArgs } from 'node:util';
import { tryParseIp } from '../lib/index.ts';
import { openDatastore, resolveDatastoreLocator } from '../datastore/index.ts';
import type { Datastore } from '../datastore/index.ts';
import { NftablesDriver, RoutesDriver } from '../dataplane/index.ts';
import { startCniServer } from '../cni/index.ts';
import type { CniServer } from '../cni/index.ts';
import { ProcessRunner } from '../os/index.ts';
import { Agent, DEFAULT_RESYNC_INTERVAL_MS } from './agent.ts';
import type { LogFn, NodeAddresses } from './agent.ts';
import { startHealthServer } from './health-server.ts';
import type { HealthServer } from './health-server.ts';
import { detectNodeAddress, parseAutodetectMethod } from './node-address.ts';
import type { AutodetectMethod } from './node-address.ts';

export const DEFAULT_HEALTH_PORT = 9099;

export interface AgentFlags {
  datastore?: string;
  nodename: string;
  ip?: string;
  autodetect: AutodetectMethod;
  healthPort: number;
  healthHost: string;
  cniSocket?: string;
  resyncIntervalMs: number;
  logLevel: 'debug' | 'info';
}

export const AGENT_USAGE = 'usage: brindle-agent [--datastore LOCATOR] [--nodename NAME] [--ip ADDR[/LEN] | --ip-autodetect first-found|interface=RE|skip-interface=RE|can-reach=DEST|cidr=CIDR,...] [--health-port N (0=off)] [--health-host ADDR] [--cni-socket PATH] [--resync-interval 90s] [--log-level info|debug]';

/** Durations such as `90s`, `500ms`, `2m` or a bare number of seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new Error(`bad duration "${text}" (expected e.g. 90s, 500ms, 2m)`);
  const n = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  if (n < 100) throw new Error(`duration "${text}" is below 100ms`);
  return n;
}

function parseFlags(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      datastore: { type: 'string' },
      nodename: { type: 'string' },
      ip: { type: 'string' },
      'ip-autodetect': { type: 'string' },
      'health-port': { type: 'string' },
      'health-host': { type: 'string' },
      'cni-socket': { type: 'string' },
      'resync-interval': { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
}

/** Parses and checks the flags; throws an Error whose message is the one line to print. */
export function parseAgentFlags(argv: readonly string[], hostname = osHostname()): AgentFlags {
  let parsed;
  try {
    parsed = parseFlags(argv);
  } catch (err) {
    // node:util's text goes on about positionals after '--'; the first sentence is the useful part.
    throw new Error((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  const { values, positionals } = parsed;
  if (positionals.length) throw new Error(`unexpected argument "${positionals[0]}"`);
  if (values.ip !== undefined && values['ip-autodetect'] !== undefined) throw new Error('give either --ip or --ip-autodetect, not both');
  if (values.ip !== undefined && !tryParseIp(values.ip.split('/')[0])) throw new Error(`--ip "${values.ip}" is not an IP address`);
  const autodetect = parseAutodetectMethod(values['ip-autodetect'] ?? 'first-found');
  const portText = values['health-port'] ?? String(DEFAULT_HEALTH_PORT);
  const healthPort = Number(portText);
  if (!/^\d+$/.test(portText) || healthPort > 65535) throw new Error(`--health-port "${portText}" is not a port number (0 = off)`);
  const nodename = (values.nodename ?? hostname).trim();
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(nodename)) throw new Error(`node name "${nodename}" is not a lowercase DNS name`);
  const logLevel = values['log-level'] ?? 'info';
  if (logLevel !== 'info' && logLevel !== 'debug') throw new Error(`--log-level "${logLevel}" (expected info or debug)`);
  return {
    datastore: values.datastore,
    nodename,
    ...(values.ip !== undefined ? { ip: values.ip } : {}),
    autodetect,
    healthPort,
    healthHost: values['health-host'] ?? '127.0.0.1',
    ...(values['cni-socket'] ? { cniSocket: values['cni-socket'] } : {}),
    resyncIntervalMs: values['resync-interval'] ? parseDuration(values['resync-interval']) : DEFAULT_RESYNC_INTERVAL_MS,
    logLevel,
  };
}

export function jsonLogger(stream: { write(text: string): unknown }, level: 'debug' | 'info'): LogFn {
  return (lvl, msg, fields = {}) => {
    if (lvl === 'debug' && level !== 'debug') return;
    stream.write(`${JSON.stringify({ ts: new Date().toISOString(), level: lvl, msg, ...fields })}\n`);
  };
}

/** The addresses to register: the explicit --ip (v4 or v6), else autodetected ones; throws when none. */
function addressSource(flags: AgentFlags, runner: ProcessRunner): () => Promise<NodeAddresses> {
  return async () => {
    if (flags.ip) {
      const withLen = flags.ip.includes('/') ? flags.ip : `${flags.ip}/${flags.ip.includes(':') ? 128 : 32}`;
      return flags.ip.includes(':') ? { ipv6: withLen } : { ipv4: withLen };
    }
    const ipv4 = await detectNodeAddress(runner, flags.autodetect, 4);
    const ipv6 = await detectNodeAddress(runner, flags.autodetect, 6);
    if (!ipv4 && !ipv6) throw new Error(`no address found by autodetection method "${flags.autodetect.kind}"`);
    return { ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}) };
  };
}

export interface AgentCliIo {
  stderr?: { write(text: string): unknown };
  env?: NodeJS.ProcessEnv;
  /** Resolves when the agent should stop (default: SIGTERM or SIGINT). */
  stopSignal?: Promise<unknown>;
}

/** Runs the agent until stopped; returns the exit code (2 for bad flags, 0 after a clean stop). */
export async function runAgentCli(argv: readonly string[], io: AgentCliIo = {}): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  let flags: AgentFlags;
  try {
    flags = parseAgentFlags(argv);
  } catch (err) {
    stderr.write(`brindle-agent: ${(err as Error).message}; ${AGENT_USAGE}\n`);
    return 2;
  }
  const log = jsonLogger(stderr, flags.logLevel);
  const locator = resolveDatastoreLocator(flags.datastore, io.env ?? process.env);
  let stopping = false;
  const stopSignal = io.stopSignal ?? new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  void stopSignal.then(() => { stopping = true; });
  // Holds the event loop open: the datastore watch and the servers are unref'd.
  const keepAlive = setInterval(() => undefined, 60_000);

  let agent: Agent | undefined;
  let health: HealthServer | undefined;
  let cni: CniServer | undefined;
  let datastore: Datastore | undefined;
  try {
    if (flags.healthPort > 0) {
      health = await startHealthServer({
        live: () => agent?.live() ?? { ok: true, detail: 'starting: opening the datastore' },
        ready: () => agent?.ready() ?? { ok: false, detail: `datastore ${locator} not open yet` },
        metrics: () => agent?.metricsText() ?? '',
      }, flags.healthPort, flags.healthHost);
      log('info', 'health server listening', { host: flags.healthHost, port: health.port });
    }
    let delay = 200;
    while (!stopping && !datastore) {
      try {
        datastore = await openDatastore(locator);
      } catch (err) {
        log('warn', 'datastore unavailable; retrying', { datastore: locator, error: (err as Error).message, retryMs: delay });
        await Promise.race([new Promise((r) => setTimeout(r, delay)), stopSignal]);
        delay = Math.min(delay * 2, 10_000);
      }
    }
    if (datastore && !stopping) {
      const runner = new ProcessRunner();
      agent = new Agent({
        datastore,
        nodename: flags.nodename,
        addresses: addressSource(flags, runner),
        nft: new NftablesDriver({ runner, netns: null }),
        routes: new RoutesDriver({ runner, netns: null, hostname: flags.nodename }),
        log,
        resyncIntervalMs: flags.resyncIntervalMs,
      });
      agent.start();
      if (flags.cniSocket) {
        cni = await startCniServer({ socketPath: flags.cniSocket, runner, hostname: () => flags.nodename, stderr });
        log('info', 'CNI socket listening', { path: cni.socketPath });
      }
      await stopSignal;
    }
    log('info', 'stopping');
    return 0;
  } catch (err) {
    log('error', 'agent failed', { error: (err as Error).message });
    return 1;
  } finally {
    clearInterval(keepAlive);
    await agent?.stop();
    await cni?.close();
    await health?.close();
    await datastore?.close();
  }
}
