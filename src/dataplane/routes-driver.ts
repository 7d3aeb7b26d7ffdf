// The routes and links driver the agent calls: local workload routes (proto 80) and their interfaces'
// sysctls, blackholes for this host's blocks, routes to other hosts' blocks (direct next hop or through
// VXLAN with onlink), the vxlan devices (one per overlay family, MTU lowered by the encapsulation) and
// their neighbour/FDB entries. apply(messages) writes only what the batch touched; resync() reads the
// kernel back (`ip -json`, `bridge -json`, /proc/sys) and repairs drift. Only objects carrying brindle's
// marks are ever removed: routes with proto 80, entries on brindle's own vxlan devices.
//
//   agent ──apply(batch)──► desired (routes, blocks, VTEPs, workload ifaces) ──► ip -force -batch - ; bridge -force -batch -
//         ──resync()─────► ip -j route/link/neigh, bridge -j fdb, sysctls ──diff──► repair batches
//
// Awkward cases handled: a line that fails (its interface is not there yet, a next hop not on a
// connected subnet) does not stop the others and is retried on the next call; a delete of something
// already gone counts as done; a vxlan device with the wrong VNI/port/local is re-created (the kernel
// drops routes through it, so its routes are written again); nothing is written before InSync.

import { readFileSync } from 'node:fs';
import { canonicalIp, tryParseIp } from '../lib/index.ts';
import type { Route, VxlanTunnelEndpoint } from '../dataplane-api/index.ts';
import { CommandFailure, inNetns, ipJson, sysctlPath, writeSysctls } from '../os/index.ts';
import type { CommandRunner, IpAddrLink } from '../os/index.ts';
import type { DriverMessage } from './host-messages.ts';
import {
  HOST_FORWARDING_SYSCTLS, canonicalCidr, desiredRoutes, desiredVxlanDevices, desiredVxlanPeers, isGoneError,
  parseBatchFailures, parseKernelRoute, routeDeleteLine, routeMatches, routeReplaceLine, vxlanAddLines,
  vxlanAddressDrift, vxlanDeviceDrift, vxlanDeviceName, vxlanFixLine, workloadSysctls,
} from './route-model.ts';
import type { Family, IpJsonRoute, IpJsonVxlanLink, KernelRoute, UnderlayLink, VxlanDevice, VxlanPeer } from './route-model.ts';

export interface RoutesDriverOptions {
  runner: CommandRunner;
  /** Network namespace path to program; null = this process's own (a real host). Explicit so tests cannot forget it. */
  netns: string | null;
  /** This host's node name (its own VTEP is the one with this name). */
  hostname: string;
  /** Assert net.ipv4.ip_forward and net.ipv6.conf.all.forwarding (default true). */
  hostForwarding?: boolean;
  timeoutMs?: number;
}

export interface RoutesProgramResult {
  deferred: boolean;
  readBack: boolean;
  /** Lines written, per tool. */
  ipLines: string[];
  bridgeLines: string[];
  sysctls: Array<[string, string]>;
  /** Lines the kernel refused (kept dirty and retried on the next call). */
  failures: Array<{ line: string; error: string }>;
  durationMs: number;
}

interface WorkloadIface {
  iface: string;
  v4: boolean;
  v6: boolean;
}

const peerKey = (p: { dev: string; ip: string }): string => `${p.dev}\0${p.ip}`;

export class RoutesDriver {
  private readonly runner: CommandRunner;
  private readonly netns: string | undefined;
  private readonly hostname: string;
  private readonly hostForwarding: boolean;
  private readonly timeoutMs: number | undefined;

  private inSync = false;
  private needsReadback = true;
  private queue: Promise<unknown> = Promise.resolve();
  // Desired inputs.
  private readonly routes = new Map<string, Route>();
  private readonly localBlocks = new Set<string>();
  private readonly vteps = new Map<string, VxlanTunnelEndpoint>();
  private readonly workloads = new Map<string, WorkloadIface>();
  // What was last written successfully (the kernel is assumed to match it between resyncs).
  private programmedRoutes = new Map<string, KernelRoute>();
  private programmedPeers = new Map<string, VxlanPeer>();
  private programmedDevices: VxlanDevice[] = [];
  // Touched since the last successful write.
  private readonly dirtyRoutes = new Set<string>();
  private readonly dirtyIfaces = new Set<string>();
  private dirtyVxlan = false;

  constructor(options: RoutesDriverOptions) {
    this.runner = options.runner;
    this.netns = options.netns ?? undefined;
    this.hostname = options.hostname;
    this.hostForwarding = options.hostForwarding ?? true;
    this.timeoutMs = options.timeoutMs;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  apply(messages: Iterable<DriverMessage>): Promise<RoutesProgramResult> {
    const batch = [...messages];
    return this.serial(async () => {
      for (const m of batch) this.take(m);
      return this.program(false);
    });
  }

  resync(): Promise<RoutesProgramResult> {
    return this.serial(() => this.program(true));
  }

  /** Items the kernel refused so far (routes, interfaces, VXLAN): the agent calls apply([]) again later. */
  pendingRetries(): number {
    return this.dirtyRoutes.size + this.dirtyIfaces.size + (this.dirtyVxlan ? 1 : 0);
  }

  private take(m: DriverMessage): void {
    switch (m.type) {
      case 'InSync':
        this.inSync = true;
        return;
      case 'RouteUpdate': {
        const dst = canonicalCidr(m.route.dst) ?? m.route.dst;
        this.routes.set(dst, m.route);
        this.dirtyRoutes.add(dst);
        return;
      }
      case 'RouteRemove': {
        const dst = canonicalCidr(m.dst) ?? m.dst;
        this.routes.delete(dst);
        this.dirtyRoutes.add(dst);
        return;
      }
      case 'LocalBlockUpdate':
      case 'LocalBlockRemove': {
        const dst = canonicalCidr(m.cidr) ?? m.cidr;
        if (m.type === 'LocalBlockUpdate') this.localBlocks.add(dst);
        else this.localBlocks.delete(dst);
        this.dirtyRoutes.add(dst);
        return;
      }
      case 'VxlanTunnelEndpointUpdate':
        this.vteps.set(m.vtep.node, m.vtep);
        this.dirtyVxlan = true;
        return;
      case 'VxlanTunnelEndpointRemove':
        this.vteps.delete(m.node);
        this.dirtyVxlan = true;
        return;
      case 'WorkloadEndpointUpdate': {
        const ep = m.endpoint;
        const old = this.workloads.get(m.id);
        if (ep.interfaceName) {
          this.workloads.set(m.id, { iface: ep.interfaceName, v4: ep.ipv4Nets.length > 0, v6: ep.ipv6Nets.length > 0 });
          if (old?.iface !== ep.interfaceName || old.v4 !== ep.ipv4Nets.length > 0 || old.v6 !== ep.ipv6Nets.length > 0) this.dirtyIfaces.add(ep.interfaceName);
        } else {
          this.workloads.delete(m.id);
        }
        return;
      }
      case 'WorkloadEndpointRemove':
        this.workloads.delete(m.id);
        return;
      default:
        return;
    }
  }

  // --- kernel access -----------------------------------------------------------------------------

  private opts(): { netns?: string; timeoutMs?: number } {
    return { ...(this.netns ? { netns: this.netns } : {}), ...(this.timeoutMs ? { timeoutMs: this.timeoutMs } : {}) };
  }

  /** Runs a batch with -force; returns the failed lines (deletes of things already gone excepted). */
  private async batch(tool: 'ip' | 'bridge', lines: string[], deleteLines: ReadonlySet<string>): Promise<Array<{ line: string; error: string }>> {
    if (lines.length === 0) return [];
    const { command, args } = inNetns(this.netns, tool, ['-force', '-batch', '-']);
    try {
      await this.runner.run(command, args, { input: lines.join('\n') + '\n', timeoutMs: this.timeoutMs });
      return [];
    } catch (err) {
      if (!(err instanceof CommandFailure) || err.exitCode === -1 || err.timedOut) throw err;
      const failures = parseBatchFailures(err.stderr);
      if (failures.size === 0) throw err;
      const out: Array<{ line: string; error: string }> = [];
      for (const [n, error] of failures) {
        const line = lines[n - 1];
        if (line === undefined) continue;
        if (deleteLines.has(line) && isGoneError(error)) continue;
        out.push({ line, error });
      }
      return out;
    }
  }

  private async underlayFor(ip: string): Promise<UnderlayLink | undefined> {
    if (!tryParseIp(ip)) return undefined;
    const want = canonicalIp(ip);
    const links = await ipJson<IpAddrLink>(this.runner, ['addr', 'show'], this.opts());
    const l = links.find((x) => (x.addr_info ?? []).some((a) => tryParseIp(a.local) && canonicalIp(a.local) === want));
    return l && l.mtu !== undefined ? { name: l.ifname, mtu: l.mtu } : undefined;
  }

  private async readLink(name: string): Promise<IpJsonVxlanLink | undefined> {
    try {
      const links = await ipJson<IpJsonVxlanLink>(this.runner, ['-d', 'addr', 'show', 'dev', name], this.opts());
      return links[0];
    } catch (err) {
      if (err instanceof CommandFailure && /does not exist|Cannot find device/i.test(err.stderr)) return undefined;
      throw err;
    }
  }

  private async readSysctls(keys: string[]): Promise<Map<string, string | undefined>> {
    const out = new Map<string, string | undefined>();
    if (keys.length === 0) return out;
    if (!this.netns) {
      for (const k of keys) {
        try { out.set(k, readFileSync(sysctlPath(k), 'utf8').trim()); } catch { out.set(k, undefined); }
      }
      return out;
    }
    const paths = keys.map((k) => sysctlPath(k));
    const { command, args } = inNetns(this.netns, 'grep', ['-H', '', ...paths]);
    // grep exits 2 when some files do not exist (their interface is gone); the others are still printed.
    const { stdout } = await this.runner.run(command, args, { okCodes: [1, 2], timeoutMs: this.timeoutMs });
    const byPath = new Map<string, string>();
    for (const line of stdout.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) byPath.set(line.slice(0, i), line.slice(i + 1).trim());
    }
    keys.forEach((k, i) => out.set(k, byPath.get(paths[i])));
    return out;
  }

  // --- programming ---------------------------------------------------------------------------------

  private async program(readback: boolean): Promise<RoutesProgramResult> {
    const t0 = performance.now();
    const result: RoutesProgramResult = { deferred: false, readBack: false, ipLines: [], bridgeLines: [], sysctls: [], failures: [], durationMs: 0 };
    if (!this.inSync) return { ...result, deferred: true };
    const full = readback || this.needsReadback;
    result.readBack = full;

    // 1. Devices (their routes depend on them).
    const ownVtep = this.vteps.get(this.hostname);
    let devices = this.programmedDevices;
    const devLines: string[] = [];
    const devDeletes = new Set<string>();
    let recreated = false;
    if (full || this.dirtyVxlan) {
      const underlay = ownVtep ? await this.underlayFor(ownVtep.parentDeviceIp) : undefined;
      devices = desiredVxlanDevices(ownVtep, this.hostname, underlay);
      for (const family of [4, 6] as Family[]) {
        const name = vxlanDeviceName(family);
        const want = devices.find((d) => d.family === family);
        const link = await this.readLink(name);
        if (!want) {
          if (link) { devLines.push(`link del ${name}`); devDeletes.add(`link del ${name}`); }
          continue;
        }
        if (!link) { devLines.push(...vxlanAddLines(want)); recreated = true; continue; }
        const drift = vxlanDeviceDrift(link, want);
        if (drift === 'recreate') { devLines.push(`link del ${name}`, ...vxlanAddLines(want)); recreated = true; continue; }
        if (drift === 'fix') devLines.push(vxlanFixLine(link, want));
        const a = vxlanAddressDrift(link, want);
        for (const r of a.remove) devLines.push(`addr del ${r} dev ${name}`);
        if (a.add) devLines.push(`addr replace ${want.address} dev ${name}`);
      }
    }
    const devNames = new Set(devices.map((d) => d.name));
    const devFailures = await this.batch('ip', devLines, devDeletes);
    result.ipLines.push(...devLines);
    result.failures.push(...devFailures);
    const failedDevs = new Set(devFailures.map((f) => /(brindle\.\S+)/.exec(f.line)?.[1]).filter((x) => x !== undefined));
    for (const n of failedDevs) devNames.delete(n);

    // 2. Neighbour and FDB entries for the other hosts' tunnel endpoints.
    const wantPeers = new Map(desiredVxlanPeers(this.vteps.values(), this.hostname, devices.filter((d) => devNames.has(d.name))).map((p) => [peerKey(p), p]));
    const ipLines: string[] = [];
    const ipDeletes = new Set<string>();
    const bridgeLines: string[] = [];
    const bridgeDeletes = new Set<string>();
    if (full || this.dirtyVxlan || recreated) {
      let havePeers: Map<string, VxlanPeer>;
      if (full || recreated) havePeers = await this.readPeers(devices.filter((d) => devNames.has(d.name)));
      else havePeers = this.programmedPeers;
      const haveFdb = full || recreated ? await this.readFdb(devices.filter((d) => devNames.has(d.name))) : undefined;
      for (const [k, p] of wantPeers) {
        const h = havePeers.get(k);
        if (!h || h.mac !== p.mac) ipLines.push(`neigh replace ${p.ip} lladdr ${p.mac} dev ${p.dev} nud permanent`);
        const fdbOk = haveFdb ? haveFdb.get(`${p.dev}\0${p.mac}`) === p.dst : h !== undefined && h.mac === p.mac && h.dst === p.dst;
        if (!fdbOk) bridgeLines.push(`fdb replace ${p.mac} dev ${p.dev} dst ${p.dst} self permanent`);
      }
      for (const [k, h] of havePeers) {
        if (wantPeers.has(k) || !devNames.has(h.dev)) continue;
        const line = `neigh del ${h.ip} dev ${h.dev}`;
        ipLines.push(line);
        ipDeletes.add(line);
      }
      const wantFdb = new Map([...wantPeers.values()].map((p) => [`${p.dev}\0${p.mac}`, p.dst]));
      const fdbHave = haveFdb ?? new Map([...havePeers.values()].map((p) => [`${p.dev}\0${p.mac}`, p.dst]));
      for (const [k, dst] of fdbHave) {
        const [dev, mac] = k.split('\0');
        if (wantFdb.get(k) === dst || !devNames.has(dev)) continue;
        const line = `fdb del ${mac} dev ${dev} dst ${dst} self`;
        bridgeLines.push(line);
        bridgeDeletes.add(line);
      }
    }

    // 3. Routes.
    const wanted = desiredRoutes(this.routes.values(), this.localBlocks, devNames);
    let have: Map<string, KernelRoute>;
    let candidates: Iterable<string>;
    if (full || recreated) {
      have = await this.readRoutes();
      candidates = new Set([...have.keys(), ...wanted.keys()]);
    } else {
      have = this.programmedRoutes;
      // VXLAN peers or devices changing can make routes appear or go (they need the device).
      candidates = this.dirtyVxlan ? new Set([...this.dirtyRoutes, ...wanted.keys(), ...have.keys()]) : new Set(this.dirtyRoutes);
    }
    const routeLines: string[] = [];
    for (const dst of candidates) {
      const w = wanted.get(dst);
      const h = have.get(dst);
      if (w && (!h || !routeMatches(h, w))) routeLines.push(routeReplaceLine(w));
      else if (!w && h) {
        const line = routeDeleteLine(dst);
        routeLines.push(line);
        ipDeletes.add(line);
      }
    }
    // Neighbours before routes that resolve through them; deletes of neighbours after.
    const neighAdds = ipLines.filter((l) => !ipDeletes.has(l));
    const neighDels = ipLines.filter((l) => ipDeletes.has(l));
    const allIp = [...neighAdds, ...routeLines, ...neighDels];
    const ipFailures = await this.batch('ip', allIp, ipDeletes);
    const bridgeFailures = await this.batch('bridge', bridgeLines, bridgeDeletes);
    result.ipLines.push(...allIp);
    result.bridgeLines.push(...bridgeLines);
    result.failures.push(...ipFailures, ...bridgeFailures);

    // 4. Sysctls: every workload interface on a readback, the touched ones otherwise.
    const ifaces = [...this.workloads.values()].filter((w) => full || this.dirtyIfaces.has(w.iface));
    const wantSysctls: Array<[string, string]> = [
      ...(full && this.hostForwarding ? HOST_FORWARDING_SYSCTLS : []),
      ...ifaces.flatMap((w) => workloadSysctls(w.iface, w.v4, w.v6)),
    ];
    const current = await this.readSysctls(wantSysctls.map(([k]) => k));
    const writes = wantSysctls.filter(([k, v]) => current.get(k) !== undefined && current.get(k) !== v);
    if (writes.length > 0) await writeSysctls(this.runner, writes, this.opts());
    result.sysctls = writes;
    const missingIfaces = new Set(ifaces.filter((w) => wantSysctls.some(([k]) => k.includes(`/${w.iface}/`) && current.get(k) === undefined)).map((w) => w.iface));

    // 5. Remember what the kernel now holds; failed items stay dirty.
    const failedLines = new Set(result.failures.map((f) => f.line));
    const nextRoutes = new Map(full || recreated ? [] : this.programmedRoutes);
    if (full || recreated) for (const [k, v] of have) nextRoutes.set(k, v);
    this.dirtyRoutes.clear();
    for (const dst of candidates) {
      const w = wanted.get(dst);
      const lineFailed = failedLines.has(w ? routeReplaceLine(w) : routeDeleteLine(dst));
      if (lineFailed) { this.dirtyRoutes.add(dst); continue; }
      if (w) nextRoutes.set(dst, w);
      else nextRoutes.delete(dst);
    }
    this.programmedRoutes = nextRoutes;
    this.programmedPeers = new Map([...wantPeers].filter(([, p]) => !failedLines.has(`neigh replace ${p.ip} lladdr ${p.mac} dev ${p.dev} nud permanent`)
      && !failedLines.has(`fdb replace ${p.mac} dev ${p.dev} dst ${p.dst} self permanent`)));
    this.programmedDevices = devices.filter((d) => devNames.has(d.name));
    this.dirtyVxlan = failedDevs.size > 0 || this.programmedPeers.size !== wantPeers.size;
    this.dirtyIfaces.clear();
    for (const i of missingIfaces) this.dirtyIfaces.add(i);
    this.needsReadback = false;
    result.durationMs = performance.now() - t0;
    return result;
  }

  private async readRoutes(): Promise<Map<string, KernelRoute>> {
    const out = new Map<string, KernelRoute>();
    for (const family of [4, 6] as Family[]) {
      const list = await ipJson<IpJsonRoute>(this.runner, [`-${family}`, 'route', 'show', 'proto', String(80)], this.opts());
      for (const j of list) {
        const r = parseKernelRoute(j, family);
        if (r) out.set(r.dst, r);
      }
    }
    return out;
  }

  private async readPeers(devices: VxlanDevice[]): Promise<Map<string, VxlanPeer>> {
    const out = new Map<string, VxlanPeer>();
    for (const d of devices) {
      const list = await ipJson<{ dst: string; lladdr?: string; state?: string[] }>(this.runner, ['neigh', 'show', 'dev', d.name], this.opts());
      for (const n of list) {
        if (!n.lladdr || !tryParseIp(n.dst)) continue;
        const p: VxlanPeer = { node: '', dev: d.name, ip: canonicalIp(n.dst), mac: n.lladdr.toLowerCase(), dst: '' };
        if (!(n.state ?? []).includes('PERMANENT')) p.mac = `${p.mac} (not permanent)`;
        out.set(peerKey(p), p);
      }
    }
    return out;
  }

  private async readFdb(devices: VxlanDevice[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const d of devices) {
      const { command, args } = inNetns(this.netns, 'bridge', ['-json', 'fdb', 'show', 'dev', d.name]);
      const { stdout } = await this.runner.run(command, args, { timeoutMs: this.timeoutMs });
      const list = stdout.trim() ? (JSON.parse(stdout) as Array<{ mac: string; dst?: string }>) : [];
      for (const e of list) if (e.dst && tryParseIp(e.dst)) out.set(`${d.name}\0${e.mac.toLowerCase()}`, canonicalIp(e.dst));
    }
    return out;
  }
}
