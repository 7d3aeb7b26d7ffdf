// The kernel side of a workload attachment, Calico-style (DESIGN.md decision 4): a veth pair whose
// host end has the fixed MAC, proxy ARP and /32 + /128 routes, and whose container end holds the
// workload's /32 and /128 with default routes via 169.254.1.1 and the host end's link-local. No
// bridge: the host routes. Each step is one process: `ip -batch -` here, or `nsenter … ip -batch -`.
//
//   createVeth ─► (host) link add brvX … peer name eth0 … netns CNI_NETNS; link-local; up
//   configureHost ─► /proc/sys writes + route replace IP/32 dev brvX proto 80
//   configureContainer ─► nsenter --net=CNI_NETNS ip -batch - (addresses, gateway routes)
//
// Awkward cases: a stale host end of the same name (an earlier sandbox of the same pod that was
// never deleted) is removed and the create retried once; an existing CNI_IFNAME in the container
// is an error, never replaced.

import {
  HOST_SIDE_MAC,
  ROUTE_PROTOCOL,
  WORKLOAD_GATEWAY_IPV4,
  WORKLOAD_GATEWAY_IPV6,
} from '../lib/index.ts';
import {
  getLink,
  ipBatch,
  ipJson,
  isAlreadyExists,
  isNoSuchDevice,
  linkPresentHere,
  readSysctl,
  writeSysctls,
} from '../os/index.ts';
import type { CommandRunner, IpAddrLink, IpRoute } from '../os/index.ts';
import { CNI_ERROR, CniError } from './cni-errors.ts';

export interface VethSpec {
  hostInterface: string;
  ifname: string;
  netns: string;
  containerMac: string;
  mtu?: number;
  /** Give the host end its fixed link-local address (needed when the workload gets IPv6). */
  ipv6: boolean;
}

/** A random locally administered unicast MAC for the container end. */
export function randomContainerMac(random: (n: number) => Buffer): string {
  const b = random(6);
  b[0] = (b[0] & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function vethLines(s: VethSpec): string[] {
  const mtu = s.mtu !== undefined ? ` mtu ${s.mtu}` : '';
  const lines = [`link add ${s.hostInterface}${mtu} address ${HOST_SIDE_MAC} type veth peer name ${s.ifname}${mtu} address ${s.containerMac} netns ${s.netns}`];
  if (s.ipv6) {
    // No kernel-generated link-local (and no DAD): the one fixed address every workload routes to.
    lines.push(`link set ${s.hostInterface} addrgenmode none`, `addr add ${WORKLOAD_GATEWAY_IPV6}/64 dev ${s.hostInterface} nodad`);
  }
  lines.push(`link set ${s.hostInterface} up`);
  return lines;
}

/**
 * Creates the pair with the container end directly in the workload's namespace (one kernel call,
 * so no half-moved pair can exist). Returns true when a stale host end had to be removed first.
 */
export async function createVeth(runner: CommandRunner, s: VethSpec): Promise<boolean> {
  try {
    await ipBatch(runner, vethLines(s));
    return false;
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
  if (await getLink(runner, s.hostInterface)) {
    await deleteHostInterface(runner, s.hostInterface);
    await ipBatch(runner, vethLines(s));
    return true;
  }
  throw new CniError(
    CNI_ERROR.INTERFACE_EXISTS,
    `Interface "${s.ifname}" already exists in network namespace "${s.netns}"; DEL the attachment that made it first`,
  );
}

export interface AddressSpec {
  hostInterface: string;
  ifname: string;
  netns: string;
  ipv4: string[];
  ipv6: string[];
}

/** Host-side sysctls and host routes to the workload's addresses. */
export async function configureHostSide(runner: CommandRunner, a: AddressSpec): Promise<void> {
  const h = a.hostInterface;
  const sysctls: Array<[string, string]> = [];
  if (a.ipv4.length > 0) {
    sysctls.push(
      [`net.ipv4.conf.${h}.proxy_arp`, '1'],
      [`net.ipv4.neigh.${h}.proxy_delay`, '0'],
      [`net.ipv4.conf.${h}.forwarding`, '1'],
    );
  }
  if (a.ipv6.length > 0) {
    sysctls.push([`net.ipv6.conf.${h}.accept_ra`, '0']);
    // IPv6 forwarding has no per-interface switch that routes: the host must forward as a whole.
    if ((await readSysctl(runner, 'net.ipv6.conf.all.forwarding')) !== '1') sysctls.push(['net.ipv6.conf.all.forwarding', '1']);
  }
  await writeSysctls(runner, sysctls);
  await ipBatch(runner, [
    ...a.ipv4.map((ip) => `route replace ${ip}/32 dev ${h} scope link proto ${ROUTE_PROTOCOL}`),
    ...a.ipv6.map((ip) => `route replace ${ip}/128 dev ${h} proto ${ROUTE_PROTOCOL}`),
  ]);
}

/** Addresses and gateway routes inside the workload's namespace. */
export async function configureContainerSide(runner: CommandRunner, a: AddressSpec): Promise<void> {
  const i = a.ifname;
  const lines = [`link set ${i} up`];
  if (a.ipv4.length > 0) {
    lines.push(...a.ipv4.map((ip) => `addr add ${ip}/32 dev ${i}`));
    lines.push(`route add ${WORKLOAD_GATEWAY_IPV4} dev ${i} scope link`, `route add default via ${WORKLOAD_GATEWAY_IPV4} dev ${i}`);
  }
  if (a.ipv6.length > 0) {
    lines.push(...a.ipv6.map((ip) => `addr add ${ip}/128 dev ${i} nodad`));
    lines.push(`route add ::/0 via ${WORKLOAD_GATEWAY_IPV6} dev ${i}`);
  }
  await ipBatch(runner, lines, { netns: a.netns });
}

/** Deletes a host-side interface; false when there was none. */
export async function deleteHostInterface(runner: CommandRunner, name: string): Promise<boolean> {
  // DEL after the namespace is gone is common: skip the ip process when /proc says there is no link.
  if ((await linkPresentHere(runner, name)) === false) return false;
  try {
    await ipBatch(runner, [`link del ${name}`]);
    return true;
  } catch (err) {
    if (isNoSuchDevice(err)) return false;
    throw err;
  }
}

/** Deletes the container end (and with it the host end and its routes); false when there was none. */
export async function deleteContainerInterface(runner: CommandRunner, netns: string, ifname: string): Promise<boolean> {
  try {
    await ipBatch(runner, [`link del ${ifname}`], { netns });
    return true;
  } catch (err) {
    if (isNoSuchDevice(err)) return false;
    throw err;
  }
}

export interface ExpectedAttachment extends AddressSpec {
  containerMac?: string;
}

function hostOf(route: IpRoute): string {
  return route.dst.includes('/') ? route.dst.slice(0, route.dst.indexOf('/')) : route.dst;
}

/** Compares the kernel with what ADD made; returns one line per difference (empty when all is in place). */
export async function checkWorkloadKernel(runner: CommandRunner, e: ExpectedAttachment): Promise<string[]> {
  const problems: string[] = [];
  const [hostLink, containerAddrs, hostRoutes4, hostRoutes6, podRoutes4, podRoutes6] = await Promise.all([
    getLink(runner, e.hostInterface),
    ipJson<IpAddrLink>(runner, ['addr', 'show', 'dev', e.ifname], { netns: e.netns }).catch((err) => {
      if (isNoSuchDevice(err)) return [] as IpAddrLink[];
      throw err;
    }),
    e.ipv4.length > 0 ? ipJson<IpRoute>(runner, ['-4', 'route', 'show', 'dev', e.hostInterface]).catch(() => [] as IpRoute[]) : Promise.resolve([] as IpRoute[]),
    e.ipv6.length > 0 ? ipJson<IpRoute>(runner, ['-6', 'route', 'show', 'dev', e.hostInterface]).catch(() => [] as IpRoute[]) : Promise.resolve([] as IpRoute[]),
    e.ipv4.length > 0 ? ipJson<IpRoute>(runner, ['-4', 'route', 'show'], { netns: e.netns }) : Promise.resolve([] as IpRoute[]),
    e.ipv6.length > 0 ? ipJson<IpRoute>(runner, ['-6', 'route', 'show'], { netns: e.netns }) : Promise.resolve([] as IpRoute[]),
  ]);
  if (!hostLink) problems.push(`host interface "${e.hostInterface}" does not exist`);
  else {
    if (hostLink.address !== HOST_SIDE_MAC) problems.push(`host interface "${e.hostInterface}" has MAC "${hostLink.address}", expected "${HOST_SIDE_MAC}"`);
    if (hostLink.flags && !hostLink.flags.includes('UP')) problems.push(`host interface "${e.hostInterface}" is down`);
  }
  const link = containerAddrs[0];
  if (!link) problems.push(`interface "${e.ifname}" does not exist in network namespace "${e.netns}"`);
  else {
    if (e.containerMac && link.address !== e.containerMac) problems.push(`interface "${e.ifname}" has MAC "${link.address}", expected "${e.containerMac}"`);
    const have = new Set((link.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
    for (const ip of e.ipv4) if (!have.has(`${ip}/32`)) problems.push(`interface "${e.ifname}" lacks address ${ip}/32`);
    for (const ip of e.ipv6) if (!have.has(`${ip}/128`)) problems.push(`interface "${e.ifname}" lacks address ${ip}/128`);
  }
  for (const ip of e.ipv4) if (!hostRoutes4.some((r) => hostOf(r) === ip)) problems.push(`host route ${ip}/32 dev ${e.hostInterface} is missing`);
  for (const ip of e.ipv6) if (!hostRoutes6.some((r) => hostOf(r) === ip)) problems.push(`host route ${ip}/128 dev ${e.hostInterface} is missing`);
  if (e.ipv4.length > 0 && !podRoutes4.some((r) => r.dst === 'default' && r.gateway === WORKLOAD_GATEWAY_IPV4)) {
    problems.push(`the workload has no IPv4 default route via ${WORKLOAD_GATEWAY_IPV4}`);
  }
  if (e.ipv6.length > 0 && !podRoutes6.some((r) => r.dst === 'default' && r.gateway === WORKLOAD_GATEWAY_IPV6)) {
    problems.push(`the workload has no IPv6 default route via ${WORKLOAD_GATEWAY_IPV6}`);
  }
  return problems;
}
