// Pure part of the routes and links driver: from routes, this host's IPAM blocks and the VXLAN tunnel
// endpoints, the kernel objects brindle wants (routes with proto 80, the vxlan devices, their
// neighbour and FDB entries, per-interface sysctls), the `ip -batch` / `bridge -batch` lines that make
// them, and the normalisation of `ip -json` output so a readback can be compared with the wish.
//
//   Route / LocalBlock / VTEP ──desired*()──► KernelRoute, VxlanDevice, VxlanPeer ──*Line()──► ip -batch

import {
  ROUTE_PROTOCOL, VXLAN_DEVICE_V4, VXLAN_DEVICE_V6, VXLAN_OVERHEAD_V4, VXLAN_OVERHEAD_V6, VXLAN_PORT,
  VXLAN_VNI_V4, VXLAN_VNI_V6, canonicalIp, tryParseCidr, tryParseIp, vxlanMacFor,
} from '../lib/index.ts';
import type { Route, VxlanTunnelEndpoint } from '../dataplane-api/index.ts';

export type Family = 4 | 6;

export interface KernelRoute {
  /** Canonical CIDR (host routes with /32 or /128). */
  dst: string;
  type: 'unicast' | 'blackhole';
  dev?: string;
  gateway?: string;
  onlink?: boolean;
}

export function familyOf(cidr: string): Family {
  return cidr.includes(':') ? 6 : 4;
}

/** Canonical CIDR text, or undefined when it does not parse. */
export function canonicalCidr(text: string): string | undefined {
  return tryParseCidr(text, true)?.text;
}

export function vxlanDeviceName(family: Family): string {
  return family === 4 ? VXLAN_DEVICE_V4 : VXLAN_DEVICE_V6;
}

/** The kernel route for a dataplane-api route; undefined when it cannot exist yet (no device or next hop). */
export function kernelRouteFor(r: Route, vxlanDevices: ReadonlySet<string>): KernelRoute | undefined {
  const dst = canonicalCidr(r.dst);
  if (!dst) return undefined;
  if (r.type === 'local-workload') return r.interfaceName ? { dst, type: 'unicast', dev: r.interfaceName } : undefined;
  if (!r.nextHop || !tryParseIp(r.nextHop)) return undefined;
  const gateway = canonicalIp(r.nextHop);
  if (r.encap === 'vxlan') {
    const dev = vxlanDeviceName(familyOf(dst));
    return vxlanDevices.has(dev) ? { dst, type: 'unicast', dev, gateway, onlink: true } : undefined;
  }
  return { dst, type: 'unicast', gateway };
}

/** Desired routes by destination: the dataplane's routes, and blackholes for this host's blocks. */
export function desiredRoutes(routes: Iterable<Route>, localBlocks: Iterable<string>, vxlanDevices: ReadonlySet<string>): Map<string, KernelRoute> {
  const out = new Map<string, KernelRoute>();
  for (const b of localBlocks) {
    const dst = canonicalCidr(b);
    if (dst) out.set(dst, { dst, type: 'blackhole' });
  }
  // A route message for the same destination wins over a blackhole.
  for (const r of routes) {
    const k = kernelRouteFor(r, vxlanDevices);
    if (k) out.set(k.dst, k);
  }
  return out;
}

export function routeReplaceLine(r: KernelRoute): string {
  if (r.type === 'blackhole') return `route replace blackhole ${r.dst} proto ${ROUTE_PROTOCOL}`;
  const via = r.gateway ? ` via ${r.gateway}` : '';
  const dev = r.dev ? ` dev ${r.dev}` : '';
  const scope = !r.gateway && familyOf(r.dst) === 4 ? ' scope link' : '';
  return `route replace ${r.dst}${via}${dev}${r.onlink ? ' onlink' : ''}${scope} proto ${ROUTE_PROTOCOL}`;
}

export function routeDeleteLine(dst: string): string {
  return `route del ${dst} proto ${ROUTE_PROTOCOL}`;
}

/** The fields of `ip -json route show` brindle reads. */
export interface IpJsonRoute {
  dst: string;
  type?: string;
  dev?: string;
  gateway?: string;
  flags?: string[];
}

export function parseKernelRoute(j: IpJsonRoute, family: Family): KernelRoute | undefined {
  const dst = j.dst === 'default' ? (family === 4 ? '0.0.0.0/0' : '::/0') : canonicalCidr(j.dst);
  if (!dst) return undefined;
  const type = j.type === 'blackhole' ? 'blackhole' : 'unicast';
  if (type === 'blackhole') return { dst, type };
  return {
    dst, type,
    ...(j.dev ? { dev: j.dev } : {}),
    ...(j.gateway ? { gateway: canonicalIp(j.gateway) } : {}),
    ...(j.flags?.includes('onlink') ? { onlink: true } : {}),
  };
}

/** Whether a kernel route is what brindle wants (a wanted route without a device lets the kernel pick it). */
export function routeMatches(kernel: KernelRoute, want: KernelRoute): boolean {
  if (kernel.type !== want.type) return false;
  if (want.type === 'blackhole') return true;
  if ((kernel.gateway ?? '') !== (want.gateway ?? '')) return false;
  if (want.dev !== undefined && kernel.dev !== want.dev) return false;
  return (kernel.onlink ?? false) === (want.onlink ?? false);
}

// ---------------------------------------------------------------------------------------------------
// VXLAN

export interface VxlanDevice {
  family: Family;
  name: string;
  vni: number;
  /** This host's underlay address the tunnel is sent from. */
  local: string;
  /** Underlay interface (for the MTU); undefined when no interface holds `local`. */
  parent?: string;
  mac: string;
  mtu?: number;
  /** The tunnel address on the device, as a host CIDR. */
  address: string;
}

export interface UnderlayLink {
  name: string;
  mtu: number;
}

/** The devices this host's own VTEP calls for (one per overlay family with a tunnel address). */
export function desiredVxlanDevices(own: VxlanTunnelEndpoint | undefined, hostname: string, parent: UnderlayLink | undefined): VxlanDevice[] {
  if (!own || !tryParseIp(own.parentDeviceIp)) return [];
  const local = canonicalIp(own.parentDeviceIp);
  const overhead = familyOf(local) === 4 ? VXLAN_OVERHEAD_V4 : VXLAN_OVERHEAD_V6;
  const out: VxlanDevice[] = [];
  for (const family of [4, 6] as Family[]) {
    const addr = family === 4 ? own.tunnelAddress : own.tunnelAddressV6;
    if (!addr || tryParseIp(addr)?.family !== family) continue;
    out.push({
      family,
      name: vxlanDeviceName(family),
      vni: family === 4 ? VXLAN_VNI_V4 : VXLAN_VNI_V6,
      local,
      ...(parent ? { parent: parent.name, mtu: parent.mtu - overhead } : {}),
      mac: ((family === 4 ? own.mac : own.macV6) ?? vxlanMacFor(hostname, family)).toLowerCase(),
      address: `${canonicalIp(addr)}/${family === 4 ? 32 : 128}`,
    });
  }
  return out;
}

export interface VxlanPeer {
  node: string;
  dev: string;
  /** The peer's tunnel address (neighbour entry: address → MAC). */
  ip: string;
  mac: string;
  /** The peer's underlay address (FDB entry: MAC → underlay). */
  dst: string;
}

/** Neighbour and FDB entries for the other hosts' tunnel endpoints, on the devices this host has. */
export function desiredVxlanPeers(vteps: Iterable<VxlanTunnelEndpoint>, hostname: string, devices: readonly VxlanDevice[]): VxlanPeer[] {
  const out: VxlanPeer[] = [];
  for (const v of vteps) {
    if (v.node === hostname || !tryParseIp(v.parentDeviceIp)) continue;
    for (const d of devices) {
      const ip = d.family === 4 ? v.tunnelAddress : v.tunnelAddressV6;
      if (!ip || tryParseIp(ip)?.family !== d.family) continue;
      out.push({
        node: v.node, dev: d.name, ip: canonicalIp(ip),
        mac: ((d.family === 4 ? v.mac : v.macV6) ?? vxlanMacFor(v.node, d.family)).toLowerCase(),
        dst: canonicalIp(v.parentDeviceIp),
      });
    }
  }
  return out;
}

export function vxlanAddLines(d: VxlanDevice): string[] {
  return [
    `link add ${d.name} type vxlan id ${d.vni} local ${d.local}${d.parent ? ` dev ${d.parent}` : ''} dstport ${VXLAN_PORT} nolearning`,
    ...vxlanSetLines(d),
  ];
}

export function vxlanSetLines(d: VxlanDevice): string[] {
  return [
    `link set ${d.name} address ${d.mac}${d.mtu !== undefined ? ` mtu ${d.mtu}` : ''} up`,
    `addr replace ${d.address} dev ${d.name}`,
  ];
}

/**
 * The `link set` that fixes an existing device, naming only what differs: setting the MAC address, even
 * to the same value, flushes the device's IPv6 neighbours (permanent ones included).
 */
export function vxlanFixLine(link: IpJsonVxlanLink, d: VxlanDevice): string {
  const parts = [`link set ${d.name}`];
  if (link.address?.toLowerCase() !== d.mac) parts.push(`address ${d.mac}`);
  if (d.mtu !== undefined && link.mtu !== d.mtu) parts.push(`mtu ${d.mtu}`);
  if (!(link.flags?.includes('UP') ?? false)) parts.push('up');
  return parts.join(' ');
}

/** The vxlan parameters `ip -d -json link show` reports. */
export interface IpJsonVxlanLink {
  ifname: string;
  address?: string;
  mtu?: number;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; local6?: string; port?: number; learning?: boolean; link?: string } };
  addr_info?: Array<{ family: string; local: string; prefixlen: number; scope?: string }>;
}

/** What has to happen to an existing device: nothing, a `link set` fix, or delete and re-create. */
export function vxlanDeviceDrift(link: IpJsonVxlanLink, want: VxlanDevice): 'ok' | 'fix' | 'recreate' {
  const info = link.linkinfo?.info_data;
  const local = info?.local ?? info?.local6;
  if (link.linkinfo?.info_kind !== 'vxlan' || info?.id !== want.vni || (local && canonicalIp(local)) !== want.local
    || info?.port !== VXLAN_PORT || info?.learning !== false || (want.parent !== undefined && info?.link !== undefined && info.link !== want.parent)) {
    return 'recreate';
  }
  const up = link.flags?.includes('UP') ?? false;
  if (!up || link.address?.toLowerCase() !== want.mac || (want.mtu !== undefined && link.mtu !== want.mtu)) return 'fix';
  return 'ok';
}

/** Addresses of the device's family (not link-local) that differ from the tunnel address: to add / remove. */
export function vxlanAddressDrift(link: IpJsonVxlanLink, want: VxlanDevice): { add: boolean; remove: string[] } {
  const fam = want.family === 4 ? 'inet' : 'inet6';
  const have = (link.addr_info ?? []).filter((a) => a.family === fam && a.scope !== 'link').map((a) => `${canonicalIp(a.local)}/${a.prefixlen}`);
  return { add: !have.includes(want.address), remove: have.filter((a) => a !== want.address) };
}

// ---------------------------------------------------------------------------------------------------
// Sysctls

/** Per-interface settings a workload interface needs (Calico-style plumbing), re-asserted on resync. */
export function workloadSysctls(iface: string, v4: boolean, v6: boolean): Array<[string, string]> {
  // Keys with "/" form: interface names may contain dots, which a dotted sysctl key would split.
  const out: Array<[string, string]> = [];
  if (v4) {
    out.push([`net/ipv4/conf/${iface}/proxy_arp`, '1'], [`net/ipv4/neigh/${iface}/proxy_delay`, '0'], [`net/ipv4/conf/${iface}/forwarding`, '1']);
  }
  if (v6) out.push([`net/ipv6/conf/${iface}/accept_ra`, '0'], [`net/ipv6/conf/${iface}/forwarding`, '1']);
  return out;
}

export const HOST_FORWARDING_SYSCTLS: ReadonlyArray<[string, string]> = [['net/ipv4/ip_forward', '1'], ['net/ipv6/conf/all/forwarding', '1']];

// ---------------------------------------------------------------------------------------------------
// Batch failures

/**
 * `ip -force -batch` / `bridge -force -batch` keep going after a failed line and report each as the
 * error text followed by `Command failed -:N`. Returns line number (1-based) → error text.
 */
export function parseBatchFailures(stderr: string): Map<number, string> {
  const out = new Map<number, string>();
  let pending: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)\s*$/.exec(line.trim());
    if (m) {
      out.set(Number(m[1]), pending.join('; ').trim());
      pending = [];
    } else if (line.trim() !== '') {
      pending.push(line.trim());
    }
  }
  return out;
}

/** A delete that failed because the object is already gone counts as done. */
export function isGoneError(text: string): boolean {
  return /No such process|Cannot find device|No such file or directory|does not exist|Cannot assign requested address/i.test(text);
}
