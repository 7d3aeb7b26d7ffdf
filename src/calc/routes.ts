// Routes and VXLAN tunnel endpoints for one host (Felix's L3RouteResolver and VXLANResolver, reduced):
// local workloads get a host route to their interface; remote workloads are routed per IPAM block when one
// remote node holds the whole block, otherwise per address, via the node's address or, when the pool says
// VXLAN, via the node's tunnel address. Workload addresses are grouped by block (or by address outside
// every pool) so the calc graph recomputes only the groups an update touches.

import { blockOf, ipInCidr, tryParseCidr, tryParseIp } from '../lib/index.ts';
import type { Cidr } from '../lib/index.ts';
import type { IPPool, Node } from '../model/index.ts';
import type { Route, VxlanTunnelEndpoint } from '../dataplane-api/index.ts';

/** One workload address as the route resolver needs it. */
export interface RouteWorkload {
  endpointId: string;
  node: string;
  /** Host CIDR (/32 or /128). */
  net: string;
  interfaceName?: string;
}

export interface RouteContext {
  /** This host; '*' = every workload is local (whole-cluster simulation). */
  hostname: string;
  node(name: string): Node | undefined;
  pools: IPPool[];
}

const DEFAULT_BLOCK = { 4: 26, 6: 122 } as const;

// Pool CIDRs parsed once per pool list (the list object is replaced whenever a pool changes).
const parsedPools = new WeakMap<IPPool[], Array<{ pool: IPPool; cidr: Cidr }>>();

function parsed(pools: IPPool[]): Array<{ pool: IPPool; cidr: Cidr }> {
  let list = parsedPools.get(pools);
  if (!list) {
    list = [];
    for (const pool of pools) {
      const cidr = tryParseCidr(pool.spec?.cidr ?? '', false);
      if (cidr) list.push({ pool, cidr });
    }
    parsedPools.set(pools, list);
  }
  return list;
}

function poolForCidr(c: Cidr, pools: IPPool[]): IPPool | undefined {
  let best: IPPool | undefined;
  let bestLen = -1;
  for (const { pool, cidr } of parsed(pools)) {
    if (cidr.family !== c.family || cidr.prefixLength > c.prefixLength) continue;
    if (!ipInCidr({ family: c.family, value: c.network }, cidr)) continue;
    if (cidr.prefixLength > bestLen) { best = pool; bestLen = cidr.prefixLength; }
  }
  return best;
}

/** The pool holding an address, most specific first. */
export function poolFor(net: string, pools: IPPool[]): IPPool | undefined {
  const c = tryParseCidr(net, true);
  return c ? poolForCidr(c, pools) : undefined;
}

const HOST_V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/32$/;

/** IPv4 pools as 32-bit numbers, for the common case of a canonical `a.b.c.d/32` workload address. */
const v4Pools = new WeakMap<IPPool[], Array<{ base: number; prefix: number; block: number }>>();

function v4GroupKey(net: string, pools: IPPool[]): string | undefined {
  const m = HOST_V4.exec(net);
  if (!m) return undefined;
  const octets = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
  if (octets.some((o) => o > 255)) return undefined;
  const ip = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  let list = v4Pools.get(pools);
  if (!list) {
    list = parsed(pools).filter((p) => p.cidr.family === 4).map((p) => ({
      base: Number(p.cidr.network), prefix: p.cidr.prefixLength, block: p.pool.spec.blockSize ?? DEFAULT_BLOCK[4],
    }));
    v4Pools.set(pools, list);
  }
  let best: { base: number; prefix: number; block: number } | undefined;
  for (const p of list) {
    const mask = p.prefix === 0 ? 0 : (0xffffffff << (32 - p.prefix)) >>> 0;
    if (((ip & mask) >>> 0) !== p.base) continue;
    if (!best || p.prefix > best.prefix) best = p;
  }
  if (!best || best.block > 32) return net;
  const bmask = best.block === 0 ? 0 : (0xffffffff << (32 - best.block)) >>> 0;
  const b = (ip & bmask) >>> 0;
  return `${b >>> 24}.${(b >>> 16) & 255}.${(b >>> 8) & 255}.${b & 255}/${best.block}`;
}

/** The route group of a workload address: its IPAM block inside a pool, else the address itself. */
export function routeGroupKey(net: string, pools: IPPool[]): string {
  if (pools.length === 0) return net;
  const fast = v4GroupKey(net, pools);
  if (fast !== undefined) return fast;
  const c = tryParseCidr(net, true);
  if (!c) return net;
  const pool = poolForCidr(c, pools);
  if (!pool) return net;
  const size = pool.spec.blockSize ?? DEFAULT_BLOCK[c.family];
  if (size > c.prefixLength) return net;
  return blockOf({ family: c.family, value: c.network }, size).text;
}

function stripPrefix(a: string): string {
  const slash = a.indexOf('/');
  return slash < 0 ? a : a.slice(0, slash);
}

/** The node's underlay address of a family: BGP address first, then InternalIP, then any address. */
export function nodeAddress(node: Node | undefined, family: 4 | 6): string | undefined {
  if (!node) return undefined;
  const bgp = family === 4 ? node.spec?.bgp?.ipv4Address : node.spec?.bgp?.ipv6Address;
  if (bgp && tryParseIp(stripPrefix(bgp))?.family === family) return stripPrefix(bgp);
  const addrs = (node.spec?.addresses ?? []).filter((a) => a && tryParseIp(stripPrefix(a.address))?.family === family);
  const internal = addrs.find((a) => a.type === 'InternalIP') ?? addrs[0];
  return internal ? stripPrefix(internal.address) : undefined;
}

function nodeSubnet(node: Node | undefined, family: 4 | 6): string | undefined {
  const bgp = family === 4 ? node?.spec?.bgp?.ipv4Address : node?.spec?.bgp?.ipv6Address;
  if (bgp && bgp.includes('/')) return bgp;
  const a = (node?.spec?.addresses ?? []).find((x) => x && x.address.includes('/') && tryParseIp(stripPrefix(x.address))?.family === family);
  return a?.address;
}

function encapFor(pool: IPPool | undefined, remote: string, family: 4 | 6, ctx: RouteContext): 'none' | 'vxlan' {
  const mode = pool?.spec?.vxlanMode ?? 'Never';
  if (mode === 'Always') return 'vxlan';
  if (mode !== 'CrossSubnet' || ctx.hostname === '*') return 'none';
  const subnet = nodeSubnet(ctx.node(ctx.hostname), family);
  const addr = nodeAddress(ctx.node(remote), family);
  if (!subnet || !addr) return 'vxlan';
  const c = tryParseCidr(subnet, false);
  return c && ipInCidr(addr, c) ? 'none' : 'vxlan';
}

function nextHopFor(node: string, encap: 'none' | 'vxlan', family: 4 | 6, ctx: RouteContext): string | undefined {
  const n = ctx.node(node);
  if (encap === 'vxlan') {
    const t = family === 4 ? n?.spec?.ipv4VXLANTunnelAddr : n?.spec?.ipv6VXLANTunnelAddr;
    return t ? stripPrefix(t) : undefined;
  }
  return nodeAddress(n, family);
}

function isLocal(node: string, ctx: RouteContext): boolean {
  return ctx.hostname === '*' || node === ctx.hostname;
}

/**
 * Routes for one group (see routeGroupKey). Duplicate addresses: a local endpoint wins over remote ones,
 * the first endpoint id with an interface names the interface, the smallest node name wins among remotes.
 * Remote routes need a known next hop; until the node (or its tunnel address) is known there is none.
 */
export function routesForGroup(groupKey: string, workloads: RouteWorkload[], ctx: RouteContext): Route[] {
  const group = tryParseCidr(groupKey, true);
  if (!group) return [];
  const family = group.family;
  const pool = poolFor(groupKey, ctx.pools);
  const byNet = new Map<string, RouteWorkload[]>();
  for (const w of workloads) {
    const list = byNet.get(w.net);
    if (list) list.push(w);
    else byNet.set(w.net, [w]);
  }
  const routes: Route[] = [];
  const remote = new Map<string, string>(); // net → node
  for (const [net, list] of byNet) {
    const locals = list.filter((w) => isLocal(w.node, ctx)).sort((a, b) => (a.endpointId < b.endpointId ? -1 : 1));
    if (locals.length > 0) {
      const withIface = locals.find((w) => w.interfaceName);
      if (withIface) {
        routes.push({
          dst: net, type: 'local-workload', node: withIface.node, interfaceName: withIface.interfaceName, encap: 'none',
          endpoints: locals.map((w) => w.endpointId),
        });
      }
      continue;
    }
    const nodes = [...new Set(list.map((w) => w.node).filter((n) => n !== ''))].sort();
    if (nodes.length > 0) remote.set(net, nodes[0]);
  }
  const remoteNodes = new Set(remote.values());
  const isBlock = group.prefixLength !== (family === 4 ? 32 : 128);
  const allRemoteOnOneNode = isBlock && remoteNodes.size === 1 && remote.size === byNet.size;
  if (allRemoteOnOneNode) {
    const node = [...remoteNodes][0];
    const encap = encapFor(pool, node, family, ctx);
    const nextHop = nextHopFor(node, encap, family, ctx);
    if (nextHop) routes.push({ dst: groupKey, type: 'remote-block', node, nextHop, encap });
  } else {
    for (const [net, node] of remote) {
      const encap = encapFor(pool, node, family, ctx);
      const nextHop = nextHopFor(node, encap, family, ctx);
      if (nextHop) routes.push({ dst: net, type: 'remote-workload', node, nextHop, encap });
    }
  }
  return routes.sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
}

/** A node's VXLAN tunnel endpoint, when it has a tunnel address (v4 or v6) and an underlay address. */
export function vtepFor(node: Node): VxlanTunnelEndpoint | undefined {
  const s = node.spec ?? {};
  const v4 = s.ipv4VXLANTunnelAddr ? stripPrefix(s.ipv4VXLANTunnelAddr) : undefined;
  const v6 = s.ipv6VXLANTunnelAddr ? stripPrefix(s.ipv6VXLANTunnelAddr) : undefined;
  if (!v4 && !v6) return undefined;
  const parent = (v4 ? nodeAddress(node, 4) : undefined) ?? nodeAddress(node, 6);
  if (!parent) return undefined;
  return {
    node: node.metadata.name,
    parentDeviceIp: parent,
    ...(v4 ? { tunnelAddress: v4 } : {}),
    ...(v4 && s.vxlanTunnelMACAddr ? { mac: s.vxlanTunnelMACAddr } : {}),
    ...(v6 ? { tunnelAddressV6: v6 } : {}),
    ...(v6 && s.vxlanTunnelMACAddrV6 ? { macV6: s.vxlanTunnelMACAddrV6 } : {}),
  };
}

/** Every workload address of an endpoint as a route input. */
export function routeWorkloads(ep: { id: string; node: string; nets: string[]; interfaceName?: string }): RouteWorkload[] {
  return ep.nets.map((net) => ({ endpointId: ep.id, node: ep.node, net, ...(ep.interfaceName ? { interfaceName: ep.interfaceName } : {}) }));
}
