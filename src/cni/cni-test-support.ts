// Shared set-up for the root tests of the CNI plugins (not shipped): a temp dir with the bundled
// plugin, a SQLite store with IPv4 and IPv6 pools, a throwaway "host" namespace, container
// namespaces, and a census of everything an attachment can leave behind (host links and routes,
// IPAM handles and allocations, WorkloadEndpoints) so tests can prove nothing leaked.
//
//   test ──createCniFixture()──► {bin, store, host} ──fx.exec('ADD', pod)──► plugin in host netns ──fx.leftovers()

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatastore, ResourceStore } from '../datastore/index.ts';
import type { Datastore } from '../datastore/index.ts';
import { Ipam } from '../ipam/index.ts';
import type { AnyResource, WorkloadEndpoint } from '../model/index.ts';
import { createTestHost, createThrowawayNetns, ipJson, ProcessRunner } from '../os/index.ts';
import type { IpLink, IpRoute, ThrowawayNetns } from '../os/index.ts';
import { installCni } from './install.ts';
import { execPlugin } from './plugin-exec.ts';
import type { ExecPluginResult } from './plugin-exec.ts';

export interface Leftovers {
  hostLinks: string[];
  hostRoutes: string[];
  handles: string[];
  allocations: number;
  endpoints: string[];
}

export interface CniFixture {
  dir: string;
  /** The installed shims (what runtimes execute) and the bundle behind them. */
  bin: string;
  ipamBin: string;
  bundle: string;
  /** Where the shims look for a CNI server. */
  socket: string;
  locator: string;
  host: ThrowawayNetns;
  runner: ProcessRunner;
  conf(extra?: Record<string, unknown>): Record<string, unknown>;
  exec(command: string, pod: { netns?: string; containerId: string; ifname?: string; args?: string }, opts?: { conf?: unknown; env?: Record<string, string>; binary?: string }): Promise<ExecPluginResult>;
  pod(): Promise<ThrowawayNetns>;
  store<T>(fn: (ds: Datastore, rs: ResourceStore) => Promise<T>): Promise<T>;
  apply(...resources: AnyResource[]): Promise<void>;
  leftovers(): Promise<Leftovers>;
  /** Starts `brindle-cni serve` inside the host namespace and waits for its socket. */
  startServer(): Promise<ChildProcess>;
  close(): Promise<void>;
}

export const FIXTURE_POOL_V4 = '10.91.0.0/24';
export const FIXTURE_POOL_V6 = 'fd00:91::/120';

export async function createCniFixture(opts: { ipv6?: boolean } = {}): Promise<CniFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'brb-cni-'));
  const runner = new ProcessRunner();
  const socket = join(dir, 'cni.sock');
  const locator = `sqlite:${join(dir, 'store.db')}`;
  const pods: ThrowawayNetns[] = [];
  const servers: ChildProcess[] = [];
  let host: ThrowawayNetns | undefined;
  let installed;
  try {
    installed = await installCni({ binDir: join(dir, 'bin'), confDir: join(dir, 'net.d'), datastore: locator, socket, nodename: 'brb-node', logFile: join(dir, 'cni.log') });
    host = await createTestHost('brb', runner);
  } catch (err) {
    await host?.delete();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const [bin, ipamBin] = installed.binaries;
  const fx: CniFixture = {
    dir,
    bin,
    ipamBin,
    bundle: installed.bundle,
    socket,
    locator,
    host,
    runner,
    conf: (extra = {}) => ({
      cniVersion: '1.0.0',
      name: 'brbnet',
      type: 'brindle-cni',
      datastore: locator,
      nodename: 'brb-node',
      log_file_path: join(dir, 'cni.log'),
      ...extra,
    }),
    exec: (command, pod, o = {}) =>
      execPlugin({
        binary: o.binary ?? bin,
        command,
        conf: o.conf ?? fx.conf(),
        containerId: pod.containerId,
        netns: pod.netns,
        ifname: pod.ifname ?? 'eth0',
        args: pod.args ?? 'IgnoreUnknown=1',
        path: [join(dir, 'bin')],
        hostNetns: host.path,
        env: o.env,
      }),
    pod: async () => {
      const p = await createThrowawayNetns('brb', runner);
      pods.push(p);
      return p;
    },
    store: async (fn) => {
      const ds = await openDatastore(locator);
      try {
        return await fn(ds, new ResourceStore(ds));
      } finally {
        await ds.close();
      }
    },
    apply: async (...resources) => {
      await fx.store(async (_, rs) => {
        for (const r of resources) await rs.apply(r);
      });
    },
    leftovers: async () => {
      const links = await ipJson<IpLink>(runner, ['link', 'show'], { netns: host.path });
      const routes = [
        ...(await ipJson<IpRoute>(runner, ['-4', 'route', 'show', 'proto', '80'], { netns: host.path })),
        ...(await ipJson<IpRoute>(runner, ['-6', 'route', 'show', 'proto', '80'], { netns: host.path })),
      ];
      return fx.store(async (ds, rs) => {
        const ipam = new Ipam(ds);
        const blocks = await ipam.listBlocks();
        return {
          hostLinks: links.map((l) => l.ifname).filter((n) => n.startsWith('brv')),
          hostRoutes: routes.map((r) => `${r.dst} dev ${r.dev}`),
          handles: (await ipam.listHandles()).map((h) => h.handleId),
          allocations: blocks.reduce((n, b) => n + b.allocated, 0),
          endpoints: (await rs.list<WorkloadEndpoint>('WorkloadEndpoint')).items.map((w) => w.metadata.name),
        };
      });
    },
    startServer: async () => {
      const child = spawn('nsenter', [`--net=${host.path}`, process.execPath, installed.bundle, 'serve', '--socket', socket], { stdio: ['ignore', 'pipe', 'inherit'] });
      servers.push(child);
      const deadline = Date.now() + 15_000;
      while (!existsSync(socket)) {
        if (child.exitCode !== null) throw new Error(`brindle-cni serve exited with ${child.exitCode}`);
        if (Date.now() > deadline) throw new Error(`brindle-cni serve made no socket "${socket}" within 15 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return child;
    },
    close: async () => {
      for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
      for (const p of pods) await p.delete();
      await host.delete();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const pools: AnyResource[] = [{ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'brb-v4' }, spec: { cidr: FIXTURE_POOL_V4, blockSize: 28 } }];
  if (opts.ipv6 !== false) pools.push({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'brb-v6' }, spec: { cidr: FIXTURE_POOL_V6, blockSize: 124 } });
  await fx.apply(...pools);
  return fx;
}

export const NOTHING_LEFT: Leftovers = { hostLinks: [], hostRoutes: [], handles: [], allocations: 0, endpoints: [] };
