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
