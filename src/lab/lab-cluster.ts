// A real multi-host brindle cluster on one machine, for end-to-end tests and the demo: a fabric
// namespace holding a bridge (never the root namespace), N host namespaces with an uplink on one shared
// subnet, a temp SQLite datastore with IPPools, brindle-agent running in every host (nsenter), and pods
// wired by the CNI plugin exactly as a runtime does it. Handles: partial set-up (down() undoes what was
// made), failures and process exit (a synchronous hook kills our PIDs and deletes our namespaces).
//
//   createLabCluster() ──► brl-<id>-fab (bridge brlbr0, 198.19.0.254/24)
//                           ├─ brl-<id>-h1 (brlup0 198.19.0.1/24, agent "h1") ── pods brl-<id>-pN
//                           └─ brl-<id>-h2 (brlup0 198.19.0.2/24, agent "h2") ── pods …
//   addPod() ──Pod stored──► brindle-cni ADD (CNI_* env, conf on stdin, inside the host) ──► WorkloadEndpoint ──► agents

import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openDatastore, ResourceStore } from '../datastore/index.ts';
import type { Datastore } from '../datastore/index.ts';
import { execPlugin, installCni } from '../cni/index.ts';
import type { ExecPluginResult } from '../cni/index.ts';
import { memoryIO, runCli } from '../cli/index.ts';
import type { AnyResource, IPPool, Pod } from '../model/index.ts';
import { inNetns, ipBatch, namedNetnsPath, ProcessRunner, writeSysctls } from '../os/index.ts';
import type { CommandResult } from '../os/index.ts';
import { CLIENT_JS, DEFAULT_SERVER_PORTS, SERVER_JS } from './lab-probes.ts';
import type { ClusterProbe, ClusterProbeResult } from './lab-probes.ts';
import { pollUntil } from '../lib/index.ts';

const AGENT_BIN = resolve(import.meta.dirname, '../../bin/brindle-agent.mjs');
const BRIDGE = 'brlbr0';
const UPLINK = 'brlup0';
const HEALTH_PORT = 9099;

export interface LabClusterOptions {
  /** Number of hosts (default 2). */
  hosts?: number;
  /** The shared host subnet as its first three octets (default "198.19.0"; hosts get .1, .2, …, the fabric .254). */
  subnet?: string;
  /** IPPool CIDR (default 10.67.0.0/16) and block size (default 26); no NAT. */
  poolCidr?: string;
  blockSize?: number;
  /** Pod traffic between hosts: direct routes ('none', the default) or VXLAN (the pool's vxlanMode Always). */
  encap?: 'none' | 'vxlan';
  /** Agent --resync-interval (default "2s"). */
  resyncInterval?: string;
  /** How long to wait for every agent's readiness (default 30 s). */
  readyTimeoutMs?: number;
}

export interface LabHost {
  /** Node name, "h1", "h2", … */
  node: string;
  /** Namespace name `brl-<id>-hN` and its /run/netns path. */
  netns: string;
  path: string;
  /** Uplink address without prefix. */
  address: string;
  cniSocket: string;
  agent?: ChildProcess;
  /** The agent's stderr (JSON lines) so far. */
  log: string;
}

export interface LabPodOptions {
  name: string;
  /** Host index (0-based) or node name. */
  host: number | string;
  namespace?: string;
  labels?: Record<string, string>;
}

export interface LabClusterPod {
  name: string;
  namespace: string;
  host: LabHost;
  netns: string;
  path: string;
  containerId: string;
  /** The IPv4 address IPAM gave it. */
  ip: string;
  add: ExecPluginResult;
}

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

// Everything every live cluster holds, for the synchronous exit hook.
const liveClusters = new Set<LabCluster>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const c of [...liveClusters]) c.downSync();
  });
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.once(signal, () => {
      for (const c of [...liveClusters]) c.downSync();
      process.exit(code);
    });
  }
}

function exited(c: ChildProcess): boolean {
  return c.exitCode !== null || c.signalCode !== null;
}

const until = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, deadlineMs: number): Promise<T> =>
  pollUntil(what, fn, deadlineMs, { tolerateErrors: true });

export class LabCluster {
  readonly id: string;
  readonly dir: string;
  /** Datastore locator (sqlite:PATH) shared by agents, the CNI plugin and brindlectl. */
  readonly datastore: string;
  readonly fabric: { netns: string; path: string };
  readonly hosts: LabHost[] = [];
  readonly pods = new Map<string, LabClusterPod>();
  readonly runner = new ProcessRunner();
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly servers = new Map<string, ChildProcess>();
  private cniBinary = '';
  private cniPath = '';
  private podCounter = 0;
  private downed = false;

  constructor() {
    this.id = randomBytes(3).toString('hex');
    this.dir = mkdtempSync(join(tmpdir(), `brl-${this.id}-`));
    this.datastore = `sqlite:${join(this.dir, 'brindle.db')}`;
    this.fabric = { netns: `brl-${this.id}-fab`, path: namedNetnsPath(`brl-${this.id}-fab`) };
    installExitHooks();
    liveClusters.add(this);
  }

  host(which: number | string): LabHost {
    const h = typeof which === 'number' ? this.hosts[which] : this.hosts.find((x) => x.node === which);
    if (!h) throw new Error(`lab cluster has no host "${which}" (hosts: ${this.hosts.map((x) => x.node).join(', ')})`);
    return h;
  }

  pod(name: string): LabClusterPod {
    const p = this.pods.get(name);
    if (!p) throw new Error(`lab cluster has no pod "${name}"`);
    return p;
  }

  private async addNetns(name: string): Promise<string> {
    this.namespaces.push(name);
    await this.runner.run('ip', ['netns', 'add', name]);
    await this.runner.run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return namedNetnsPath(name);
  }

  /** Builds the fabric, the hosts, the datastore with its pool, the CNI bundle, and starts the agents. */
  async up(opts: LabClusterOptions = {}): Promise<void> {
    const n = opts.hosts ?? 2;
    const subnet = opts.subnet ?? '198.19.0';
    if (n < 1 || n > 200) throw new Error(`hosts "${n}" must be between 1 and 200`);
    await this.addNetns(this.fabric.netns);
    await ipBatch(this.runner, [`link add ${BRIDGE} type bridge`, `addr add ${subnet}.254/24 dev ${BRIDGE}`, `link set ${BRIDGE} up`], { netns: this.fabric.path });
    for (let i = 1; i <= n; i++) {
      const netns = `brl-${this.id}-h${i}`;
      const path = await this.addNetns(netns);
      const host: LabHost = { node: `h${i}`, netns, path, address: `${subnet}.${i}`, cniSocket: join(this.dir, `h${i}-cni.sock`), log: '' };
      this.hosts.push(host);
      // The uplink pair is made in the host and its far end moved into the fabric and onto the bridge.
      await ipBatch(this.runner, [
        `link add ${UPLINK} type veth peer name brlh${i} netns ${this.fabric.netns}`,
        `addr add ${host.address}/24 dev ${UPLINK}`,
        `link set ${UPLINK} up`,
        // A default route out of the uplink: proxy ARP only answers pods for 169.254.1.1 when a route
        // to it leaves by another link.
        `route add default via ${subnet}.254 dev ${UPLINK}`,
      ], { netns: path });
      await ipBatch(this.runner, [`link set brlh${i} master ${BRIDGE}`, `link set brlh${i} up`], { netns: this.fabric.path });
      await writeSysctls(this.runner, [['net.ipv4.ip_forward', '1'], ['net.ipv4.conf.all.rp_filter', '0'], ['net.ipv4.conf.default.rp_filter', '0']], { netns: path });
    }
    const pool: IPPool = {
      apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'brl-pool-v4' },
      spec: { cidr: opts.poolCidr ?? '10.67.0.0/16', blockSize: opts.blockSize ?? 26, ipipMode: 'Never', vxlanMode: opts.encap === 'vxlan' ? 'Always' : 'Never', natOutgoing: false },
    };
    await this.apply(pool);
    const installed = await installCni({
      binDir: join(this.dir, 'cni-bin'), confDir: join(this.dir, 'net.d'), datastore: this.datastore,
      socket: join(this.dir, 'no-default.sock'), logFile: join(this.dir, 'cni.log'),
    });
    this.cniBinary = installed.binaries[0];
    this.cniPath = join(this.dir, 'cni-bin');
    for (const h of this.hosts) this.startAgent(h, opts.resyncInterval ?? '2s');
    await Promise.all(this.hosts.map((h) => this.waitAgentReady(h, opts.readyTimeoutMs ?? 30_000)));
  }

  /** Starts (or restarts) brindle-agent inside a host namespace. */
  startAgent(h: LabHost, resyncInterval = '2s'): ChildProcess {
    const { command, args } = inNetns(h.path, process.execPath, [
      AGENT_BIN, '--datastore', this.datastore, '--nodename', h.node, '--ip', `${h.address}/24`,
      '--resync-interval', resyncInterval, '--health-port', String(HEALTH_PORT), '--health-host', '127.0.0.1',
      '--cni-socket', h.cniSocket,
    ]);
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.children.add(child);
    h.agent = child;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => { h.log = (h.log + d).slice(-200_000); });
    return child;
  }

  async waitAgentReady(h: LabHost, deadlineMs = 30_000): Promise<void> {
    await until(`agent on "${h.node}" ready`, async () => {
      if (h.agent && exited(h.agent)) throw new Error(`agent on "${h.node}" exited (${h.agent.exitCode ?? h.agent.signalCode}): ${h.log.slice(-1500)}`);
      const r = await this.run(h.path, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${HEALTH_PORT}/readiness`], { okCodes: [7] });
      return r.stdout === '200';
    }, deadlineMs).catch((err: Error) => {
      throw new Error(`${err.message}\nagent log:\n${h.log.slice(-1500)}`);
    });
  }

  /** Runs a command inside a namespace (a host's or pod's path). */
  run(netnsPath: string, command: string, args: readonly string[], options: { okCodes?: number[]; timeoutMs?: number; input?: string } = {}): Promise<CommandResult> {
    const c = inNetns(netnsPath, command, args);
    return this.runner.run(c.command, c.args, options);
  }

  /** Opens the datastore for the duration of `fn`. */
  async store<T>(fn: (rs: ResourceStore, ds: Datastore) => Promise<T>): Promise<T> {
    const ds = await openDatastore(this.datastore);
    try {
      return await fn(new ResourceStore(ds), ds);
    } finally {
      await ds.close();
    }
  }

  async apply(...resources: AnyResource[]): Promise<void> {
    await this.store(async (rs) => {
      for (const r of resources) await rs.apply(r);
    });
  }

  /** brindlectl in-process against this cluster's datastore. */
  async cli(args: string[], stdin = ''): Promise<CliRun> {
    const io = memoryIO(stdin, { BRINDLE_DATASTORE: this.datastore });
    const code = await runCli(['--datastore', this.datastore, ...args], io);
    return { code, out: io.out, err: io.err };
  }

  /**
   * Adds a pod to a host: stores the Pod (labels), makes its namespace and runs the CNI plugin's ADD in
   * the host namespace with K8S_POD_NAMESPACE/K8S_POD_NAME, as kubelet's runtime would.
   */
  async addPod(o: LabPodOptions): Promise<LabClusterPod> {
    if (this.pods.has(o.name)) throw new Error(`lab cluster already has a pod "${o.name}"`);
    const host = this.host(o.host);
    const namespace = o.namespace ?? 'default';
    const pod: Pod = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: o.name, namespace, ...(o.labels ? { labels: o.labels } : {}) },
      spec: { nodeName: host.node, containers: [{ name: 'c' }] },
    };
    await this.apply(pod);
    const netns = `brl-${this.id}-p${++this.podCounter}`;
    const path = await this.addNetns(netns);
    const containerId = `brl${this.id}${this.podCounter}`;
    const add = await execPlugin({
      binary: this.cniBinary, command: 'ADD', conf: this.cniConf(host), containerId, netns: path, ifname: 'eth0',
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=${o.name}`, path: [this.cniPath], hostNetns: host.path,
      env: { BRINDLE_CNI_SOCKET: host.cniSocket },
    });
    const ips = (add.json?.ips ?? []) as Array<{ address: string }>;
    const v4 = ips.find((i) => !i.address.includes(':'));
    if (add.exitCode !== 0 || !v4) throw new Error(`CNI ADD of pod "${namespace}/${o.name}" on "${host.node}" failed (exit ${add.exitCode}): ${add.stdout}${add.stderr}`);
    const p: LabClusterPod = { name: o.name, namespace, host, netns, path, containerId, ip: v4.address.split('/')[0], add };
    this.pods.set(o.name, p);
    return p;
  }

  /** Runs the CNI plugin's DEL for a pod and deletes its namespace. */
  async deletePod(name: string): Promise<ExecPluginResult> {
    const p = this.pod(name);
    const del = await execPlugin({
      binary: this.cniBinary, command: 'DEL', conf: this.cniConf(p.host), containerId: p.containerId, netns: p.path, ifname: 'eth0',
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${p.namespace};K8S_POD_NAME=${p.name}`, path: [this.cniPath], hostNetns: p.host.path,
      env: { BRINDLE_CNI_SOCKET: p.host.cniSocket },
    });
    if (del.exitCode !== 0) throw new Error(`CNI DEL of pod "${p.namespace}/${name}" failed (exit ${del.exitCode}): ${del.stdout}${del.stderr}`);
    const server = this.servers.get(name);
    if (server) await this.stopChild(server);
    this.servers.delete(name);
    await this.runner.run('ip', ['netns', 'del', p.netns], { okCodes: [1] });
    this.pods.delete(name);
    return del;
  }

  private cniConf(host: LabHost): Record<string, unknown> {
    return {
      cniVersion: '1.0.0', name: 'brl', type: 'brindle-cni', datastore: this.datastore, nodename: host.node,
      log_file_path: join(this.dir, 'cni.log'), ipam: { type: 'brindle-ipam', assign_ipv6: false },
    };
  }

  /** Starts the probe server in a pod; resolves once every port is bound. */
  async startServer(podName: string, ports: { tcp: readonly number[]; udp: readonly number[] } = DEFAULT_SERVER_PORTS, deadlineMs = 10_000): Promise<void> {
    const p = this.pod(podName);
    if (this.servers.has(podName)) throw new Error(`pod "${podName}" already runs a probe server`);
    const { command, args } = inNetns(p.path, process.execPath, ['-e', SERVER_JS, JSON.stringify(ports)]);
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    this.servers.set(podName, child);
    let out = '';
    child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
    await until(`probe server in "${podName}"`, () => {
      if (exited(child)) throw new Error(`exited: ${out}`);
      return out.includes('ready\n');
    }, deadlineMs);
  }

  /** Runs probes from a pod all at once; `to` is a pod name or an address. */
  async probe(fromPod: string, probes: ClusterProbe[], timeoutMs = 700): Promise<ClusterProbeResult[]> {
    if (probes.length === 0) return [];
    const from = this.pod(fromPod);
    const full = probes.map((p) => ({ ...p, address: this.pods.get(p.to)?.ip ?? p.to }));
    const r = await this.run(from.path, process.execPath, ['-e', CLIENT_JS, JSON.stringify(full), String(timeoutMs)], { timeoutMs: timeoutMs + 20_000 });
    return JSON.parse(r.stdout) as ClusterProbeResult[];
  }

  private async stopChild(c: ChildProcess): Promise<void> {
    if (c.pid !== undefined && !exited(c)) {
      const gone = new Promise<void>((r) => c.once('exit', () => r()));
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await gone;
    }
    this.children.delete(c);
  }

  /** Kills every process this cluster started, deletes its namespaces and files. Safe to call twice. */
  async down(): Promise<void> {
    if (this.downed) return;
    for (const c of [...this.children]) await this.stopChild(c);
    for (const ns of [...this.namespaces].reverse()) await this.runner.run('ip', ['netns', 'del', ns], { okCodes: [1, 255] }).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
    this.downed = true;
    liveClusters.delete(this);
  }

  /** The exit-hook variant of down(): synchronous, best effort. */
  downSync(): void {
    if (this.downed) return;
    for (const c of this.children) {
      if (c.pid !== undefined && !exited(c)) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const ns of [...this.namespaces].reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    this.downed = true;
    liveClusters.delete(this);
  }
}

/** Creates and starts a cluster; on any failure everything made so far is torn down before the error is thrown. */
export async function createLabCluster(opts: LabClusterOptions = {}): Promise<LabCluster> {
  const c = new LabCluster();
  try {
    await c.up(opts);
  } catch (err) {
    await c.down();
    throw err;
  }
  return c;
}
