// BIRD 2 configuration for one host, rendered from the BGP resources (Calico's confd role): the agent
// passes BGPConfiguration, BGPPeer, Node and IPPool resources plus this host's affine blocks and borrowed
// addresses, and writes the text for the BIRD supervisor (bird-supervisor.ts). Pure: no I/O.
// Routes BIRD puts in the kernel carry BIRD_ROUTE_PROTOCOL (12, "bird") and BIRD_ROUTE_METRIC (32)
// from lib/kernel-names.ts: the agent leaves those alone, and BIRD ignores the agent's (proto 80).
//
//   resources + host blocks ──renderBirdConfig()──► bird.conf ──BirdSupervisor──► bird -c … / birdc configure

import {
  BIRD_ROUTE_METRIC,
  InvalidError,
  ROUTE_PROTOCOL,
  WORKLOAD_INTERFACE_PREFIX,
  canonicalIp,
  cidrContains,
  compareIps,
  hostCidr,
  normalizeCidr,
  parseCidr,
  parseCidrOrIp,
  parseIp,
  tryParseIp,
} from '../lib/index.ts';
import type { IpFamily } from '../lib/index.ts';
import { parseSelector } from '../model/index.ts';
import type { BGPConfiguration, BGPPeer, IPPool, Node } from '../model/index.ts';

export const DEFAULT_AS_NUMBER = 64512;
/** Session kinds, as protocol name prefixes; the status parser maps them back (bird-status.ts). */
export const PEER_PROTOCOL_PREFIX = { mesh: 'Mesh_', node: 'Node_', global: 'Global_' } as const;
export type PeerType = keyof typeof PEER_PROTOCOL_PREFIX;

export interface BirdConfigInput {
  /** Name of the Node this configuration is for. */
  nodeName: string;
  nodes: readonly Node[];
  /** `default` and `node.<name>` (others are ignored). */
  bgpConfigurations: readonly BGPConfiguration[];
  bgpPeers: readonly BGPPeer[];
  ipPools: readonly IPPool[];
  /** CIDRs of the IPAM blocks affine to this host (exported as aggregates). */
  blocks: readonly string[];
  /** Addresses this host holds inside other hosts' blocks (exported as /32 or /128). */
  borrowedAddresses?: readonly string[];
  /** Looks up `password.secretKeyRef`; a peer whose secret cannot be found is an error. */
  resolveSecret?: (ref: { name: string; key: string }) => string | undefined;
}

/** One BGP session in the rendered configuration (also what tests and status compare against). */
export interface RenderedPeer {
  protocol: string;
  type: PeerType;
  family: IpFamily;
  address: string;
  port?: number;
  asNumber: number;
  localAsNumber: number;
  passive: boolean;
  rrClient: boolean;
  password?: string;
  keepaliveTime?: number;
  holdTime?: number;
  ttlSecurity?: number;
  sourceAddress: 'UseNodeIP' | 'None';
  nextHopMode: 'Auto' | 'Self' | 'Keep';
  maxRestartTime?: number;
  numAllowedLocalASNumbers?: number;
}

interface NodeAddrs {
  node: Node;
  v4?: { ip: string; cidr?: string };
  v6?: { ip: string; cidr?: string };
}

const CLUSTER_ID_RE = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** Whole seconds of a duration like "30s", "2m", "1m30s" or a bare number of seconds. */
export function durationSeconds(text: string, path: string): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    const n = Number(m[1]);
    total += m[2] === 'h' ? n * 3600 : m[2] === 'm' ? n * 60 : m[2] === 's' ? n : n / 1000;
    end = re.lastIndex;
  }
  if (t === '' || end !== t.length) throw new InvalidError(path, `cannot read duration "${text}" (e.g. "30s", "2m")`);
  return Math.round(total);
}

function nodeAddrs(node: Node): NodeAddrs {
  const out: NodeAddrs = { node };
  const bgp = node.spec.bgp;
  for (const [key, fam] of [['ipv4Address', 4], ['ipv6Address', 6]] as const) {
    const text = bgp?.[key];
    if (!text) continue;
    const path = `Node "${node.metadata.name}" spec.bgp.${key}`;
    let parsed;
    try {
      parsed = parseCidrOrIp(text);
    } catch (err) {
      throw new InvalidError(path, `"${text}" is not an address`, { cause: err });
    }
    if (parsed.family !== fam) throw new InvalidError(path, `"${text}" is not an IPv${fam} address`);
    const ip = canonicalIp(text.split('/')[0]);
    const entry = { ip, cidr: text.includes('/') ? normalizeCidr(text) : undefined };
    if (fam === 4) out.v4 = entry;
    else out.v6 = entry;
  }
  return out;
}

/** Address (and optional port) of BGPPeer.peerIP: "ip", "ip:port", "[v6]:port". */
export function parsePeerIp(text: string, path: string): { ip: string; family: IpFamily; port?: number } {
  let host = text;
  let port: number | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket) {
    host = bracket[1];
    port = bracket[2] === undefined ? undefined : Number(bracket[2]);
  } else if (!tryParseIp(text) && /^[^:]+:\d+$/.test(text)) {
    const i = text.lastIndexOf(':');
    host = text.slice(0, i);
    port = Number(text.slice(i + 1));
  }
  const ip = tryParseIp(host);
  if (!ip) throw new InvalidError(path, `peerIP "${text}" is not an address`);
  if (port !== undefined && (port < 1 || port > 65535)) throw new InvalidError(path, `peerIP "${text}" has port outside 1-65535`);
  return { ip: canonicalIp(host), family: ip.family, port };
}

/** BIRD protocol names are identifiers: the address with separators turned into underscores. */
function protocolName(type: PeerType, ip: string, port?: number): string {
  return PEER_PROTOCOL_PREFIX[type] + ip.replace(/[.:]/g, '_') + (port ? `_port_${port}` : '');
}

function checkAs(n: number, path: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 4294967295) throw new InvalidError(path, `AS number "${n}" is outside 1-4294967295`);
  return n;
}

function checkPassword(p: string, path: string): string {
  if (/["\\\n\r]/.test(p) || p === '') throw new InvalidError(path, 'password must be non-empty and contain no quote, backslash or line break');
  return p;
}

/** A stable router id for hosts with no IPv4 BGP address (BIRD needs a 32-bit id). */
function routerIdFromName(name: string): string {
  let h = 2166136261;
  for (const ch of Buffer.from(name, 'utf8')) h = Math.imul(h ^ ch, 16777619) >>> 0;
  return [h >>> 24, (h >>> 16) & 255, (h >>> 8) & 255, h & 255].join('.');
}

function prefixSet(cidrs: readonly string[], plus: boolean): string {
  return `[ ${cidrs.map((c) => (plus ? `${c}+` : c)).join(', ')} ]`;
}

function communityStatements(values: readonly string[], path: string): string[] {
  return values.map((v) => {
    const parts = v.split(':');
    if (parts.length < 2 || parts.length > 3 || !parts.every((p) => /^\d+$/.test(p))) {
      throw new InvalidError(path, `community "${v}" is not "aa:nn" or "aa:nn:mm"`);
    }
    return parts.length === 2 ? `bgp_community.add((${parts.join(',')}));` : `bgp_large_community.add((${parts.join(',')}));`;
  });
}

function famOfCidr(c: string): IpFamily {
  return parseCidr(c).family;
}

/**
 * Renders BIRD 2's configuration for `input.nodeName`. Throws InvalidError (naming the resource and
 * field) for inputs BIRD could not be given: a missing Node, unparsable addresses, a peer without an
 * AS number, a password that cannot be quoted.
 */
export function renderBirdConfig(input: BirdConfigInput): string {
  return new BirdConfigRenderer(input).render();
}

/** The sessions renderBirdConfig would configure, for status and tests. */
export function birdPeers(input: BirdConfigInput): RenderedPeer[] {
  return new BirdConfigRenderer(input).peers();
}

class BirdConfigRenderer {
  private readonly input: BirdConfigInput;
  private readonly me: NodeAddrs;
  private readonly nodes: Map<string, NodeAddrs>;
  private readonly globalAs: number;
  private readonly myAs: number;
  private readonly meshEnabled: boolean;
  private readonly listenPort?: number;

  constructor(input: BirdConfigInput) {
    this.input = input;
    this.nodes = new Map(input.nodes.map((n) => [n.metadata.name, nodeAddrs(n)]));
    const me = this.nodes.get(input.nodeName);
    if (!me) throw new InvalidError('', `no Node resource named "${input.nodeName}": cannot render its BGP configuration`);
    if (!me.v4 && !me.v6) throw new InvalidError(`Node "${input.nodeName}" spec.bgp`, 'has neither ipv4Address nor ipv6Address');
    this.me = me;
    const def = input.bgpConfigurations.find((c) => c.metadata.name === 'default')?.spec ?? {};
    const mine = input.bgpConfigurations.find((c) => c.metadata.name === `node.${input.nodeName}`)?.spec ?? {};
    this.globalAs = checkAs(def.asNumber ?? DEFAULT_AS_NUMBER, 'BGPConfiguration "default" spec.asNumber');
    this.myAs = this.asOf(me.node);
    this.meshEnabled = def.nodeToNodeMeshEnabled !== false;
    this.listenPort = mine.listenPort ?? def.listenPort;
  }

  /** The port a Calico node listens on: `node.<name>` BGPConfiguration, else `default`, else 179. */
  private listenPortOf(name: string): number | undefined {
    const cfg = (n: string) => this.input.bgpConfigurations.find((c) => c.metadata.name === n)?.spec;
    const port = cfg(`node.${name}`)?.listenPort ?? cfg('default')?.listenPort;
    return port === undefined || port === 179 ? undefined : port;
  }

  private asOf(node: Node): number {
    const n = node.spec.bgp?.asNumber;
    return n === undefined ? this.globalAs : checkAs(n, `Node "${node.metadata.name}" spec.bgp.asNumber`);
  }

  private clusterId(node: Node): string | undefined {
    const id = node.spec.bgp?.routeReflectorClusterID;
    if (id === undefined || id === '') return undefined;
    if (!CLUSTER_ID_RE.test(id)) throw new InvalidError(`Node "${node.metadata.name}" spec.bgp.routeReflectorClusterID`, `"${id}" is not a dotted quad`);
    return id;
  }

  private matches(selector: string, node: Node, path: string): boolean {
    let sel;
    try {
      sel = parseSelector(selector);
    } catch (err) {
      throw new InvalidError(path, `selector "${selector}" does not parse`, { cause: err });
    }
    return sel.evaluate(node.metadata.labels ?? {});
  }

  /** Whether a BGPPeer's scope (node / nodeSelector / global) includes `node`. */
  private inScope(peer: BGPPeer, node: Node): boolean {
    const s = peer.spec;
    if (s.node) return s.node === node.metadata.name;
    if (s.nodeSelector) return this.matches(s.nodeSelector, node, `BGPPeer "${peer.metadata.name}" spec.nodeSelector`);
    return true;
  }

  peers(): RenderedPeer[] {
    const out = new Map<string, RenderedPeer>();
    const add = (p: RenderedPeer) => {
      // The first session to a given address and port wins: explicit BGPPeers come before the mesh.
      const key = `${p.address}|${p.port ?? ''}`;
      if (!out.has(key)) out.set(key, p);
    };
    const myCid = this.clusterId(this.me.node);

    const ordered = [...this.input.bgpPeers].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    for (const peer of ordered) {
      const s = peer.spec;
      const path = `BGPPeer "${peer.metadata.name}"`;
      const type: PeerType = s.node || s.nodeSelector ? 'node' : 'global';
      const common = {
        password: this.password(peer),
        keepaliveTime: s.keepaliveTime ? durationSeconds(s.keepaliveTime, `${path} spec.keepaliveTime`) : undefined,
        holdTime: s.holdTime ? durationSeconds(s.holdTime, `${path} spec.holdTime`) : undefined,
        ttlSecurity: s.ttlSecurity || undefined,
        sourceAddress: s.sourceAddress ?? 'UseNodeIP',
        nextHopMode: s.nextHopMode ?? (s.keepOriginalNextHop ? 'Keep' : 'Auto'),
        maxRestartTime: s.maxRestartTime ? durationSeconds(s.maxRestartTime, `${path} spec.maxRestartTime`) : undefined,
        numAllowedLocalASNumbers: s.numAllowedLocalASNumbers || undefined,
        localAsNumber: s.localASNumber !== undefined ? checkAs(s.localASNumber, `${path} spec.localASNumber`) : this.myAs,
      } as const;
      const targets: NodeAddrs[] = [];
      if (s.peerSelector) {
        const selPath = `${path} spec.peerSelector`;
        if (this.inScope(peer, this.me.node)) {
          for (const n of this.nodes.values()) {
            if (n !== this.me && this.matches(s.peerSelector, n.node, selPath)) targets.push(n);
          }
        }
        // Automatic reverse peering: nodes in scope peer with us when we match the peer selector.
        if (this.matches(s.peerSelector, this.me.node, selPath)) {
          for (const n of this.nodes.values()) {
            if (n !== this.me && this.inScope(peer, n.node) && !targets.includes(n)) targets.push(n);
          }
        }
        for (const n of targets) {
          const peerCid = this.clusterId(n.node);
          for (const fam of [4, 6] as const) {
            const mine = fam === 4 ? this.me.v4 : this.me.v6;
            const theirs = fam === 4 ? n.v4 : n.v6;
            if (!mine || !theirs) continue;
            const peerAs = this.asOf(n.node);
            const port = this.listenPortOf(n.node.metadata.name);
            add({
              ...common,
              protocol: protocolName(type, theirs.ip, port),
              type,
              family: fam,
              address: theirs.ip,
              port,
              asNumber: peerAs,
              passive: false,
              rrClient: myCid !== undefined && peerCid !== myCid && peerAs === common.localAsNumber,
            });
          }
        }
      } else if (s.peerIP) {
        if (!this.inScope(peer, this.me.node)) continue;
        const { ip, family, port } = parsePeerIp(s.peerIP, `${path} spec.peerIP`);
        if (s.asNumber === undefined) throw new InvalidError(`${path} spec.asNumber`, `peer "${s.peerIP}" needs an AS number`);
        if (!(family === 4 ? this.me.v4 : this.me.v6)) continue;
        if (ip === this.me.v4?.ip || ip === this.me.v6?.ip) continue;
        add({
          ...common,
          protocol: protocolName(type, ip, port),
          type,
          family,
          address: ip,
          port,
          asNumber: checkAs(s.asNumber, `${path} spec.asNumber`),
          passive: false,
          rrClient: false,
        });
      } else {
        throw new InvalidError(path, 'needs peerIP or peerSelector');
      }
    }

    // Node-to-node mesh: route reflectors stay out of it; the higher address of each pair waits.
    if (this.meshEnabled && myCid === undefined) {
      const names = [...this.nodes.keys()].sort();
      for (const name of names) {
        const n = this.nodes.get(name)!;
        if (n === this.me || this.clusterId(n.node) !== undefined) continue;
        for (const fam of [4, 6] as const) {
          const mine = fam === 4 ? this.me.v4 : this.me.v6;
          const theirs = fam === 4 ? n.v4 : n.v6;
          if (!mine || !theirs) continue;
          const port = this.listenPortOf(name);
          add({
            protocol: protocolName('mesh', theirs.ip, port),
            type: 'mesh',
            family: fam,
            address: theirs.ip,
            port,
            asNumber: this.asOf(n.node),
            localAsNumber: this.myAs,
            passive: compareIps(parseIp(mine.ip), parseIp(theirs.ip)) > 0,
            rrClient: false,
            sourceAddress: 'UseNodeIP',
            nextHopMode: 'Auto',
          });
        }
      }
    }
    return [...out.values()];
  }

  private password(peer: BGPPeer): string | undefined {
    const pw = peer.spec.password;
    if (!pw) return undefined;
    const path = `BGPPeer "${peer.metadata.name}" spec.password`;
    if (pw.value !== undefined) return checkPassword(pw.value, path);
    if (pw.secretKeyRef) {
      const v = this.input.resolveSecret?.(pw.secretKeyRef);
      if (v === undefined) throw new InvalidError(path, `secret "${pw.secretKeyRef.name}" key "${pw.secretKeyRef.key}" not found`);
      return checkPassword(v, path);
    }
    return undefined;
  }

  render(): string {
    const input = this.input;
    const me = this.me;
    const routerId = me.v4?.ip ?? routerIdFromName(input.nodeName);
    const def = input.bgpConfigurations.find((c) => c.metadata.name === 'default')?.spec ?? {};
    const mine = input.bgpConfigurations.find((c) => c.metadata.name === `node.${input.nodeName}`)?.spec ?? {};
    const communities = new Map((def.communities ?? []).map((c) => [c.name, c.value]));
    const prefixAds = mine.prefixAdvertisements ?? def.prefixAdvertisements ?? [];
    const serviceCidrs = [...(def.serviceClusterIPs ?? []), ...(def.serviceExternalIPs ?? []), ...(def.serviceLoadBalancerIPs ?? [])]
      .map((c, i) => normalizeCidrAt(c.cidr, `BGPConfiguration "default" service CIDR #${i}`));
    const pools = input.ipPools.map((p) => ({ pool: p, cidr: normalizeCidrAt(p.spec.cidr, `IPPool "${p.metadata.name}" spec.cidr`) }));
    const peers = this.peers();
    const myCid = this.clusterId(me.node);

    const lines: string[] = [];
    const w = (s = '') => lines.push(s);
    w(`# BIRD 2 configuration for node "${input.nodeName}", rendered by brindle; do not edit (rewritten on change).`);
    w(`router id ${routerId};`);
    const severity = (mine.logSeverityScreen ?? def.logSeverityScreen ?? 'Info').toLowerCase();
    const levels = severity === 'debug' || severity === 'info' ? 'all'
      : severity === 'warning' ? '{ warning, error, bug, fatal }'
        : severity === 'error' || severity === 'fatal' ? '{ error, bug, fatal }'
          : undefined;
    if (!levels) throw new InvalidError('BGPConfiguration spec.logSeverityScreen', `"${mine.logSeverityScreen ?? def.logSeverityScreen}" is not Debug, Info, Warning, Error or Fatal`);
    w(`log stderr ${levels};`);
    if (severity === 'debug') w('debug protocols { states, events };');
    w('timeformat protocol iso long;');
    w();
    w('protocol device { scan time 10; }');
    w();
    w('# Interface routes, so multihop peers resolve their next hops; never workload or tunnel devices.');
    w('protocol direct {');
    w('  ipv4;');
    w('  ipv6;');
    const ignored = (def.ignoredInterfaces ?? []).map((i, n) => {
      if (!/^[A-Za-z0-9_.*?-]{1,15}$/.test(i)) throw new InvalidError(`BGPConfiguration "default" spec.ignoredInterfaces[${n}]`, `"${i}" is not an interface name pattern`);
      return `-"${i}", `;
    });
    w(`  interface -"${WORKLOAD_INTERFACE_PREFIX}*", -"brindle.vxlan*", ${ignored.join('')}"*";`);
    w('}');

    for (const fam of [4, 6] as const) {
      const v = `v${fam}`;
      const famPools = pools.filter((p) => famOfCidr(p.cidr) === fam);
      // A disabled pool still has workloads using its addresses: keep advertising their blocks.
      const exportable = famPools.filter((p) => !p.pool.spec.disableBGPExport).map((p) => p.cidr);
      const noExport = famPools.filter((p) => p.pool.spec.disableBGPExport).map((p) => p.cidr);
      const famBlocks = input.blocks.map((b, i) => normalizeCidrAt(b, `blocks[${i}]`)).filter((b) => famOfCidr(b) === fam);
      const borrowed = (input.borrowedAddresses ?? [])
        .map((a, i) => {
          const ip = tryParseIp(a.split('/')[0]);
          if (!ip) throw new InvalidError(`borrowedAddresses[${i}]`, `"${a}" is not an address`);
          return ip;
        })
        .filter((ip) => ip.family === fam)
        .map((ip) => hostCidr(ip).text)
        .filter((c) => !famBlocks.some((b) => cidrContains(b, c)));
      const ads = prefixAds
        .map((a, i) => ({ cidr: normalizeCidrAt(a.cidr, `prefixAdvertisements[${i}].cidr`), communities: a.communities ?? [] }))
        .filter((a) => famOfCidr(a.cidr) === fam);
      const services = serviceCidrs.filter((c) => famOfCidr(c) === fam);
      const famPeers = peers.filter((p) => p.family === fam);

      w();
      w(`# ---------- IPv${fam} ----------`);
      w(`# Kernel: program routes learned over BGP (proto bird, metric ${BIRD_ROUTE_METRIC}); learn only foreign routes`);
      w(`# outside the pools (never brindle's own, proto ${ROUTE_PROTOCOL}); persist keeps them while BIRD restarts.`);
      w(`protocol kernel kernel_${v} {`);
      w('  learn;');
      w('  persist;');
      w('  scan time 10;');
      w('  graceful restart on;');
      w('  merge paths on;');
      w(`  metric ${BIRD_ROUTE_METRIC};`);
      w('  netlink rx buffer 33554432;');
      w(`  ipv${fam} {`);
      w('    import filter {');
      w(`      if krt_source = ${ROUTE_PROTOCOL} then reject;`);
      if (famPools.length) w(`      if net ~ ${prefixSet(famPools.map((p) => p.cidr), true)} then reject;`);
      w('      accept;');
      w('    };');
      w('    export where source = RTS_BGP;');
      w('  };');
      w('}');

      const statics: string[] = [];
      for (const b of famBlocks) statics.push(`  route ${b} blackhole;`);
      for (const b of borrowed) statics.push(`  route ${b} blackhole;`);
      for (const a of ads) statics.push(`  route ${a.cidr} blackhole;`);
      for (const c of services) statics.push(`  route ${c} blackhole;`);
      w();
      w('# What this host originates: its blocks (aggregates), borrowed addresses, configured advertisements.');
      w('# These stay inside BIRD: the kernel export above takes only BGP routes.');
      w(`protocol static brindle_originate_${v} {`);
      w(`  ipv${fam};`);
      for (const s of new Set(statics)) w(s);
      w('}');

      w();
      w(`filter brindle_export_${v} {`);
      if (noExport.length) w(`  if net ~ ${prefixSet(noExport, true)} then reject;`);
      for (const a of ads) {
        const stmts = communityStatements(a.communities.map((c) => communities.get(c) ?? c), `prefixAdvertisements "${a.cidr}" communities`);
        w(`  if proto = "brindle_originate_${v}" && net = ${a.cidr} then {${stmts.map((s) => ` ${s}`).join('')} accept; }`);
      }
      if (services.length) w(`  if proto = "brindle_originate_${v}" && net ~ ${prefixSet(services, false)} then accept;`);
      w('  # Our own blocks, and pool routes learned from peers (route reflectors pass them on); nothing else.');
      if (exportable.length) w(`  if (proto = "brindle_originate_${v}" || source = RTS_BGP) && net ~ ${prefixSet(exportable, true)} then accept;`);
      w('  reject;');
      w('}');

      if (famPeers.length) {
        w();
        w(`template bgp brindle_peer_${v} {`);
        w('  connect delay time 1;');
        w('  connect retry time 5;');
        w('  error wait time 1, 30;');
        w('  graceful restart on;');
        if (myCid) w(`  rr cluster id ${myCid};`);
        w(`  ipv${fam} {`);
        w('    import all;');
        w(`    export filter brindle_export_${v};`);
        w('  };');
        w('}');
      }
      for (const p of famPeers) {
        const myAddr = fam === 4 ? me.v4! : me.v6!;
        const theirNode = [...this.nodes.values()].find((n) => (fam === 4 ? n.v4?.ip : n.v6?.ip) === p.address);
        const sameSubnet = myAddr.cidr !== undefined && cidrContains(myAddr.cidr, `${p.address}/${fam === 4 ? 32 : 128}`);
        w();
        w(`protocol bgp ${p.protocol} from brindle_peer_${v} {`);
        // The status table reads "with password" back: a TCP-MD5 mismatch is otherwise silent.
        w(`  description "${p.type} peer${theirNode ? ` node ${theirNode.node.metadata.name}` : ''}${p.password ? ', with password' : ''}";`);
        const local = p.sourceAddress === 'UseNodeIP' ? `${myAddr.ip} ` : '';
        const listen = this.listenPort && this.listenPort !== 179 ? `port ${this.listenPort} ` : '';
        w(`  local ${local}${listen}as ${p.localAsNumber};`);
        w(`  neighbor ${p.address}${p.port ? ` port ${p.port}` : ''} as ${p.asNumber};`);
        if (p.passive) w('  passive on;');
        if (p.ttlSecurity) {
          w('  ttl security on;');
          w(`  multihop ${p.ttlSecurity};`);
        } else if (sameSubnet) {
          w('  direct;');
        } else {
          w('  multihop;');
        }
        if (p.password) w(`  password "${p.password}";`);
        if (p.holdTime !== undefined) w(`  hold time ${p.holdTime};`);
        if (p.keepaliveTime !== undefined) w(`  keepalive time ${p.keepaliveTime};`);
        if (p.maxRestartTime !== undefined) w(`  graceful restart time ${p.maxRestartTime};`);
        if (p.numAllowedLocalASNumbers) w(`  allow local as ${p.numAllowedLocalASNumbers};`);
        if (p.rrClient) w('  rr client;');
        const external = p.asNumber !== p.localAsNumber;
        const channel: string[] = [];
        if (!sameSubnet || p.ttlSecurity) channel.push('gateway recursive;');
        if (p.nextHopMode === 'Self' || (p.nextHopMode === 'Auto' && !external && !p.rrClient && !myCid)) channel.push('next hop self;');
        if (p.nextHopMode === 'Keep') channel.push('next hop keep;');
        if (channel.length) w(`  ipv${fam} { ${channel.join(' ')} };`);
        w('}');
      }
    }
    return `${lines.join('\n')}\n`;
  }
}

function normalizeCidrAt(text: string, path: string): string {
  try {
    return normalizeCidr(text);
  } catch (err) {
    throw new InvalidError(path, `"${text}" is not a CIDR`, { cause: err });
  }
}
