// Test and bench support: one throwaway "host" namespace with workload namespaces wired the Calico way
// (veth, host side MAC ee:ee:ee:ee:ee:ee with proxy ARP, /32 and /128 in the workload, default routes via
// 169.254.1.1 and the host side's link-local), plus probe servers and clients that run Node inside the
// namespaces (nsenter; Node never switches namespaces itself). Every namespace is deleted on close() or,
// failing that, at process exit; every process is stopped by its own PID.
//
//   test ──createLab()──► brd-host (forwarding on, uplink to nowhere) ── brv<hash> ══ eth0 brd-pod…
//        ──lab.probe(from, [{to, proto, port}])──► nsenter node client ──► results (connected / timed out)

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  HOST_SIDE_MAC, WORKLOAD_GATEWAY_IPV4, WORKLOAD_GATEWAY_IPV6, WORKLOAD_INTERFACE_PREFIX,
} from '../lib/index.ts';
import { ProcessRunner, createTestHost, createThrowawayNetns, inNetns, writeSysctls } from '../os/index.ts';
import type { CommandRunner, ThrowawayNetns } from '../os/index.ts';

export interface LabPodSpec {
  name: string;
  /** Address without prefix, e.g. 10.65.0.1. */
  v4?: string;
  v6?: string;
  /** Host-side interface name (defaults to brv + a counter). */
  iface?: string;
  /** Extra addresses inside the pod (e.g. to send from an address the pod does not own). */
  extraV4?: string[];
}

export interface LabPod extends LabPodSpec {
  ns: ThrowawayNetns;
  iface: string;
}

export interface Probe {
  to: string;
  proto: 'tcp' | 'udp';
  port: number;
  /** Source address to bind (defaults to the pod's own). */
  from?: string;
}

export interface ProbeResult extends Probe {
  ok: boolean;
  error?: string;
}

export const PROBE_TCP_PORTS = [80, 443, 8080, 9090];
export const PROBE_UDP_PORTS = [53, 5353, 8080, 9090];

// Listens on every probe port (TCP and UDP, IPv4 and IPv6), answers each connection or datagram, and
// prints one line per arrival so tests can see what got through.
const SERVER_JS = `
const net = require('node:net'); const dgram = require('node:dgram');
const { tcp, udp } = JSON.parse(process.argv[1]);
let pending = tcp.length + udp.length * 2;
const up = () => { if (--pending === 0) process.stdout.write('ready\\n'); };
for (const p of tcp) {
  const s = net.createServer((c) => { process.stdout.write('tcp ' + c.remoteAddress + ' ' + p + '\\n'); c.end('ok'); c.on('error', () => {}); });
  s.listen({ port: p, host: '::', ipv6Only: false }, up);
}
for (const p of udp) for (const type of ['udp4', 'udp6']) {
  const s = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
  s.on('message', (m, r) => { process.stdout.write('udp ' + r.address + ' ' + p + '\\n'); s.send(m, r.port, r.address); });
  s.bind(p, type === 'udp4' ? '0.0.0.0' : '::', up);
}
setInterval(() => {}, 1 << 30);
`;

// Runs every probe at once; a probe succeeds when a TCP connection is answered or a UDP datagram echoed
// within the timeout. Prints a JSON array of results.
const CLIENT_JS = `
const net = require('node:net'); const dgram = require('node:dgram');
const probes = JSON.parse(process.argv[1]); const timeout = Number(process.argv[2]);
const one = (p) => new Promise((resolve) => {
  let done = false;
  const finish = (ok, error) => { if (done) return; done = true; clearTimeout(t); try { sock && (sock.destroy ? sock.destroy() : sock.close()); } catch {} resolve({ ...p, ok, ...(error ? { error } : {}) }); };
  const t = setTimeout(() => finish(false, 'timeout'), timeout);
  let sock;
  if (p.proto === 'tcp') {
    sock = net.connect({ host: p.to, port: p.port, ...(p.from ? { localAddress: p.from } : {}) });
    sock.on('data', () => finish(true)); sock.on('error', (e) => finish(false, e.code || String(e)));
  } else {
    sock = dgram.createSocket(p.to.includes(':') ? 'udp6' : 'udp4');
    sock.on('message', () => finish(true)); sock.on('error', (e) => finish(false, e.code || String(e)));
    const send = () => sock.send('x', p.port, p.to, (e) => { if (e) finish(false, e.code || String(e)); });
    if (p.from) sock.bind(0, p.from, send); else send();
  }
});
Promise.all(probes.map(one)).then((r) => { process.stdout.write(JSON.stringify(r)); });
`;

interface Server {
  child: ChildProcess;
  lines: string[];
}

export class Lab {
  readonly host: ThrowawayNetns;
  readonly pods = new Map<string, LabPod>();
  readonly runner: CommandRunner;
  private readonly servers = new Map<string, Server>();
  private counter = 0;

  constructor(host: ThrowawayNetns, runner: CommandRunner) {
    this.host = host;
    this.runner = runner;
  }

  get hostPath(): string {
    return this.host.path;
  }

  pod(name: string): LabPod {
    const p = this.pods.get(name);
    if (!p) throw new Error(`lab has no pod "${name}"`);
    return p;
  }

  /**
   * Wires a pod. With `routes: false` the host keeps no route to it (the routes driver's job in its
   * tests); the host side is still set up for proxy ARP.
   */
  async addPod(spec: LabPodSpec, options: { routes?: boolean } = {}): Promise<LabPod> {
    const ns = await createThrowawayNetns('brd', this.runner);
    const iface = spec.iface ?? `${WORKLOAD_INTERFACE_PREFIX}lab${String(this.counter++).padStart(4, '0')}`;
    const pod: LabPod = { ...spec, ns, iface };
    this.pods.set(spec.name, pod);
    await this.host.ip([`link add ${iface} type veth peer name eth0 netns ${ns.name}`, `link set ${iface} address ${HOST_SIDE_MAC}`]);
    await writeSysctls(this.runner, [
      [`net.ipv4.conf.${iface}.proxy_arp`, '1'], [`net.ipv4.neigh.${iface}.proxy_delay`, '0'],
      [`net.ipv4.conf.${iface}.forwarding`, '1'], [`net.ipv6.conf.${iface}.accept_dad`, '0'],
    ], { netns: this.host.path });
    await writeSysctls(this.runner, [['net.ipv6.conf.eth0.accept_dad', '0'], ['net.ipv6.conf.all.accept_dad', '0']], { netns: ns.path });
    await this.host.ip([`link set ${iface} up`]);
    const podLines = ['link set eth0 up'];
    if (spec.v4) podLines.push(`addr add ${spec.v4}/32 dev eth0`);
    for (const a of spec.extraV4 ?? []) podLines.push(`addr add ${a}/32 dev eth0`);
    if (spec.v6) podLines.push(`addr add ${spec.v6}/128 dev eth0 nodad`);
    podLines.push(`route add ${WORKLOAD_GATEWAY_IPV4} dev eth0 scope link`, `route add default via ${WORKLOAD_GATEWAY_IPV4} dev eth0`);
    if (spec.v6) podLines.push(`route add ::/0 via ${WORKLOAD_GATEWAY_IPV6} dev eth0`);
    await ns.ip(podLines);
    if (options.routes !== false) {
      const lines: string[] = [];
      if (spec.v4) lines.push(`route add ${spec.v4}/32 dev ${iface} scope link`);
      for (const a of spec.extraV4 ?? []) lines.push(`route add ${a}/32 dev ${iface} scope link`);
      if (spec.v6) lines.push(`route add ${spec.v6}/128 dev ${iface}`);
      await this.host.ip(lines);
    }
    return pod;
  }

  /** Starts the probe server in a pod (default ports: PROBE_TCP_PORTS, PROBE_UDP_PORTS); resolves once every port is bound. */
  async startServer(podName: string, ports: { tcp: number[]; udp: number[] } = { tcp: PROBE_TCP_PORTS, udp: PROBE_UDP_PORTS }, deadlineMs = 10_000): Promise<void> {
    const pod = this.pod(podName);
    const { command, args } = inNetns(pod.ns.path, process.execPath, ['-e', SERVER_JS, JSON.stringify(ports)]);
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const server: Server = { child, lines: [] };
    this.servers.set(podName, server);
    let buf = '';
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`probe server in "${podName}" not ready after ${deadlineMs} ms: ${stderr}`)), deadlineMs);
      child.stdout!.on('data', (b: Buffer) => {
        buf += b.toString();
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === 'ready') { clearTimeout(timer); resolve(); } else server.lines.push(line);
        }
      });
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`probe server in "${podName}" exited (${code}): ${stderr}`)); });
    });
  }

  /** Lines the server of a pod printed since it started (`tcp ADDR PORT`, `udp ADDR PORT`). */
  serverArrivals(podName: string): string[] {
    return [...(this.servers.get(podName)?.lines ?? [])];
  }

  /** Runs probes from a pod, all at once; denied probes show up as timeouts. */
  async probe(fromPod: string, probes: Probe[], timeoutMs = 700): Promise<ProbeResult[]> {
    if (probes.length === 0) return [];
    const pod = this.pod(fromPod);
    const { command, args } = inNetns(pod.ns.path, process.execPath, ['-e', CLIENT_JS, JSON.stringify(probes), String(timeoutMs)]);
    const { stdout } = await this.runner.run(command, args, { timeoutMs: timeoutMs + 20_000 });
    return JSON.parse(stdout) as ProbeResult[];
  }

  /** Runs a command in a namespace of the lab (the host or a pod). */
  run(where: 'host' | string, command: string, args: string[]): Promise<{ stdout: string }> {
    const ns = where === 'host' ? this.host : this.pod(where).ns;
    return ns.run(command, args);
  }

  async close(): Promise<void> {
    for (const s of this.servers.values()) {
      if (s.child.exitCode === null && s.child.pid !== undefined) {
        s.child.kill('SIGKILL');
        await new Promise<void>((r) => { if (s.child.exitCode !== null || s.child.signalCode !== null) r(); else s.child.once('exit', () => r()); });
      }
    }
    this.servers.clear();
    for (const p of this.pods.values()) await p.ns.delete();
    await this.host.delete();
  }
}

/** A host namespace with IPv4 and IPv6 forwarding on, ready for pods. */
export async function createLab(runner: CommandRunner = new ProcessRunner()): Promise<Lab> {
  const host = await createTestHost('brd', runner);
  const lab = new Lab(host, runner);
  try {
    await writeSysctls(runner, [['net.ipv4.ip_forward', '1'], ['net.ipv6.conf.all.forwarding', '1']], { netns: host.path });
  } catch (err) {
    await lab.close();
    throw err;
  }
  return lab;
}
