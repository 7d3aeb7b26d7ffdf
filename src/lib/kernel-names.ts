// Names and numbers brindle gives kernel objects, spelled in this one file (DESIGN.md): the CNI
// plugin creates workload interfaces and routes with them, the agent's dataplane recognises its own
// objects by them after a restart, and tests clean up by them.
//
//   CNI ADD ──► veth "brv<hash>" (host side, MAC ee:ee:ee:ee:ee:ee) + "/32 dev brv… proto 80" routes

import { createHash } from 'node:crypto';

/** Prefix of every host-side workload interface (Calico's "cali"). */
export const WORKLOAD_INTERFACE_PREFIX = 'brv';

/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1). */
export const MAX_INTERFACE_NAME_LENGTH = 15;

/** Hex digits of the endpoint hash after the prefix: "brv" + 11 = 14 characters, as Calico. */
const WORKLOAD_HASH_DIGITS = 11;

/**
 * Fixed MAC of every host-side workload interface. The workload's gateway (169.254.1.1 via proxy
 * ARP, or the IPv6 link-local below) then resolves to the same address on every host.
 */
export const HOST_SIDE_MAC = 'ee:ee:ee:ee:ee:ee';

/** IPv4 next hop workloads route through; the host side answers ARP for it by proxy ARP. */
export const WORKLOAD_GATEWAY_IPV4 = '169.254.1.1';

/** The EUI-64 link-local address that HOST_SIDE_MAC gives the host side: the workloads' IPv6 next hop. */
export const WORKLOAD_GATEWAY_IPV6 = 'fe80::ecee:eeff:feee:eeee';

/**
 * Route protocol number on routes brindle installs (`ip route ... proto 80`), so the dataplane can
 * tell its routes from the kernel's (2), the administrator's (3 "boot", 4 "static") and BIRD's (12).
 */
export const ROUTE_PROTOCOL = 80;

/**
 * Routes BIRD programs carry the kernel's own "bird" protocol number (RTPROT_BIRD, which BIRD 2 always
 * sets) and this metric, so the agent can tell routes learned over BGP from its own (ROUTE_PROTOCOL)
 * and leave them to BIRD. BIRD itself ignores the agent's routes by their protocol number.
 */
export const BIRD_ROUTE_PROTOCOL = 12;
export const BIRD_ROUTE_METRIC = 32;

/**
 * Host-side interface name of a workload endpoint: prefix + the first 11 hex digits of the SHA-1 of
 * `<namespace>.<workload>` (Calico's scheme for pods), with `.<ifname>` appended for a second
 * interface of the same workload so the two cannot collide.
 */
export function workloadInterfaceName(namespace: string, workload: string, ifname = 'eth0'): string {
  const key = ifname === 'eth0' ? `${namespace}.${workload}` : `${namespace}.${workload}.${ifname}`;
  const digest = createHash('sha1').update(key).digest('hex');
  return WORKLOAD_INTERFACE_PREFIX + digest.slice(0, WORKLOAD_HASH_DIGITS);
}

/** True for names brindle's workload plumbing made (prefix + 11 lower-case hex digits). */
export function isWorkloadInterfaceName(name: string): boolean {
  return name.length === WORKLOAD_INTERFACE_PREFIX.length + WORKLOAD_HASH_DIGITS
    && name.startsWith(WORKLOAD_INTERFACE_PREFIX)
    && /^[0-9a-f]+$/.test(name.slice(WORKLOAD_INTERFACE_PREFIX.length));
}

// ---------------------------------------------------------------------------------------------------
// nftables: one `inet` table owned by brindle; chains, sets and maps inside it. nft names may be up to
// 255 bytes and must start with a letter; ids from the calc graph are hashed so any id gives a valid name.

export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'brindle';

/** Base chains (hooked) and the fixed regular chains of brindle's table. */
export const NFT_CHAINS = {
  /** Workload egress policy, once for forwarded and host-bound traffic alike (after DNAT). */
  prerouting: 'prerouting',
  forward: 'forward',
  input: 'input',
  output: 'output',
  natPostrouting: 'nat-postrouting',
} as const;

/** Priority of the prerouting chain: just after dstnat (-100), so policy sees translated destinations. */
export const NFT_PREROUTING_PRIORITY = -90;

/** Verdict maps keyed by interface name (dispatch whose cost does not grow with the endpoint count). */
export const NFT_MAPS = {
  /** iifname → jump to the workload's egress chain (anti-spoofing + egress policy). */
  workloadFrom: 'wl-from',
  /** oifname → jump to the workload's ingress chain. */
  workloadTo: 'wl-to',
  /** iifname → host endpoint ingress (traffic to host processes). */
  hostFrom: 'hep-from',
  /** oifname → host endpoint egress (traffic from host processes). */
  hostTo: 'hep-to',
  /** iifname / oifname → host endpoint forward (applyOnForward) policy. */
  hostForwardFrom: 'hepfw-from',
  hostForwardTo: 'hepfw-to',
} as const;

/** Fixed sets: IP pool CIDRs (all, and those with natOutgoing) and the underlay addresses of VXLAN peers. */
export const NFT_SETS = {
  allPools: (family: 4 | 6): string => `pools-v${family}`,
  natPools: (family: 4 | 6): string => `masq-pools-v${family}`,
  vxlanPeers: (family: 4 | 6): string => `vxlan-peers-v${family}`,
} as const;

/**
 * Packet mark bits the policy chains use to report back to the endpoint chain that jumped to them
 * (nft chains cannot return a value): accept = "an Allow rule matched", pass = "skip the rest of the tier".
 */
export const NFT_MARK_ACCEPT = 0x10000;
export const NFT_MARK_PASS = 0x20000;

/** NFLOG group of the Log action (`log group N`); `tcpdump -i nflog:N` and the flow collector read it. */
export const NFLOG_GROUP = 17;

function nftHash(id: string): string {
  return createHash('sha1').update(id).digest('hex').slice(0, 16);
}

const dirLetter = (direction: 'ingress' | 'egress'): string => (direction === 'ingress' ? 'i' : 'e');

/** Chain of one policy's rules for one direction. */
export function nftPolicyChain(policyId: string, direction: 'ingress' | 'egress'): string {
  return `pol-${dirLetter(direction)}-${nftHash(policyId)}`;
}

/** Chain of one profile's rules for one direction. */
export function nftProfileChain(profileId: string, direction: 'ingress' | 'egress'): string {
  return `pro-${dirLetter(direction)}-${nftHash(profileId)}`;
}

/** Interface names as they may appear in a chain name (anything unusual is hashed). */
function ifacePart(iface: string): string {
  if (iface === '*') return 'any';
  return /^[A-Za-z0-9_-]{1,15}$/.test(iface) ? iface : `x${nftHash(iface)}`;
}

/** Per-workload chain: ingress = traffic to the workload, egress = traffic from it. */
export function nftWorkloadChain(iface: string, direction: 'ingress' | 'egress'): string {
  return `wl-${dirLetter(direction)}-${ifacePart(iface)}`;
}

/** Per-host-endpoint chain (`*` = every interface); `forward` for applyOnForward policy. */
export function nftHostEndpointChain(iface: string, direction: 'ingress' | 'egress', forward = false): string {
  return `hep${forward ? 'fw' : ''}-${dirLetter(direction)}-${ifacePart(iface)}`;
}

/**
 * The nft set holding one part of one family's members of an IP set: single addresses in a hash set
 * (`hosts`, cheap to change at any size), networks in an interval set (`nets`), and the
 * address+protocol+port members of a named-port set (`ports`).
 */
export function nftIpSetName(ipSetId: string, part: 'hosts' | 'nets' | 'ports', family: 4 | 6): string {
  return `${part === 'hosts' ? 'h' : part === 'nets' ? 'n' : 'p'}${family}-${nftHash(ipSetId)}`;
}

// ---------------------------------------------------------------------------------------------------
// VXLAN (one device per family, Calico's VNIs and port).

export const VXLAN_DEVICE_V4 = 'brindle.vxlan';
export const VXLAN_DEVICE_V6 = 'brindle.vxlan6';
export const VXLAN_VNI_V4 = 4096;
export const VXLAN_VNI_V6 = 6096;
export const VXLAN_PORT = 4789;
/** Encapsulation overhead subtracted from the parent device's MTU. */
export const VXLAN_OVERHEAD_V4 = 50;
export const VXLAN_OVERHEAD_V6 = 70;

/**
 * MAC address of a node's VXLAN device when its Node resource does not carry one: locally
 * administered, unicast, derived from the node name, so every host computes the same one.
 */
export function vxlanMacFor(node: string, family: 4 | 6): string {
  const d = createHash('sha1').update(`${family === 4 ? 'vxlan' : 'vxlan-v6'}:${node}`).digest();
  const bytes = [(d[0] & 0xfc) | 0x02, d[1], d[2], d[3], d[4], d[5]];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
