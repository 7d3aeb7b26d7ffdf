// Finds this host's address for its Node resource, with Calico's autodetection methods:
// first-found (skipping virtual interfaces), interface=REGEX, skip-interface=REGEX, can-reach=DEST and
// cidr=CIDR[,CIDR...]. Reads the kernel with `ip -json` in the agent's own network namespace.
//
//   agent start ──► detectNodeAddress(method) ──► "10.0.0.5/24" ──► Node.spec.bgp.ipv4Address

import { InvalidError, ipInCidr, parseCidr, WORKLOAD_INTERFACE_PREFIX } from '../lib/index.ts';
import { ipJson, listAddresses } from '../os/index.ts';
import type { CommandRunner, IpAddrLink } from '../os/index.ts';

/** Interfaces first-found never picks: loopback, container plumbing, tunnels, bridges of other tools. */
export const DEFAULT_SKIPPED_INTERFACES = [
  '^lo$', `^${WORKLOAD_INTERFACE_PREFIX}`, '^cali', '^docker', '^cbr', '^cni', '^dummy', '^virbr', '^lxcbr', '^veth',
  '^tunl', '^flannel', '^kube-ipvs', '^vxlan', '^brindle', '^podman', '^br-',
];

export type AutodetectMethod =
  | { kind: 'first-found' }
  | { kind: 'interface'; pattern: RegExp }
  | { kind: 'skip-interface'; pattern: RegExp }
  | { kind: 'can-reach'; destination: string }
  | { kind: 'cidr'; cidrs: string[] };

/** Parses `first-found`, `interface=eth.*`, `skip-interface=...`, `can-reach=1.2.3.4`, `cidr=10.0.0.0/8,...`. */
export function parseAutodetectMethod(text: string): AutodetectMethod {
  const [name, ...rest] = text.split('=');
  const value = rest.join('=');
  const regex = (what: string) => {
    try {
      return new RegExp(value.split(',').map((v) => `(?:${v})`).join('|'));
    } catch (err) {
      throw new InvalidError('autodetect', `bad ${what} pattern "${value}": ${(err as Error).message}`);
    }
  };
  switch (name) {
    case 'first-found':
      return { kind: 'first-found' };
    case 'interface':
      return { kind: 'interface', pattern: regex('interface') };
    case 'skip-interface':
      return { kind: 'skip-interface', pattern: regex('skip-interface') };
    case 'can-reach':
      if (!value) throw new InvalidError('autodetect', 'can-reach needs a destination, e.g. can-reach=10.0.0.1');
      return { kind: 'can-reach', destination: value };
    case 'cidr': {
      const cidrs = value.split(',').filter(Boolean);
      if (cidrs.length === 0) throw new InvalidError('autodetect', 'cidr needs one or more CIDRs, e.g. cidr=10.0.0.0/8');
      for (const c of cidrs) parseCidr(c);
      return { kind: 'cidr', cidrs };
    }
    default:
      throw new InvalidError('autodetect', `unknown method "${text}" (expected first-found, interface=REGEX, skip-interface=REGEX, can-reach=DEST or cidr=CIDR)`);
  }
}

function usable(a: { family: string; local: string; scope?: string }, family: 4 | 6): boolean {
  if (a.family !== (family === 4 ? 'inet' : 'inet6')) return false;
  if (a.scope && a.scope !== 'global') return false;
  return !(family === 6 && a.local.toLowerCase().startsWith('fe80'));
}

function firstAddress(links: IpAddrLink[], family: 4 | 6, accept: (link: IpAddrLink) => boolean, cidrs?: string[]): string | undefined {
  for (const link of links) {
    if (!accept(link)) continue;
    for (const a of link.addr_info ?? []) {
      if (!usable(a, family)) continue;
      if (cidrs && !cidrs.some((c) => parseCidr(c).family === family && ipInCidr(a.local, c))) continue;
      return `${a.local}/${a.prefixlen}`;
    }
  }
  return undefined;
}

/** The address (CIDR form, with the interface's prefix length) of the given family, or undefined. */
export async function detectNodeAddress(runner: CommandRunner, method: AutodetectMethod, family: 4 | 6 = 4): Promise<string | undefined> {
  const links = await listAddresses(runner);
  const skipped = DEFAULT_SKIPPED_INTERFACES.map((p) => new RegExp(p));
  const isUp = (l: IpAddrLink) => !(l.flags ?? []).includes('NO-CARRIER') && l.operstate !== 'DOWN';
  switch (method.kind) {
    case 'first-found':
      return firstAddress(links, family, (l) => isUp(l) && !skipped.some((r) => r.test(l.ifname)));
    case 'interface':
      return firstAddress(links, family, (l) => method.pattern.test(l.ifname));
    case 'skip-interface':
      return firstAddress(links, family, (l) => isUp(l) && !method.pattern.test(l.ifname) && !skipped.some((r) => r.test(l.ifname)));
    case 'cidr':
      return firstAddress(links, family, () => true, method.cidrs);
    case 'can-reach': {
      const routes = await ipJson<{ prefsrc?: string; dev?: string }>(runner, [family === 6 ? '-6' : '-4', 'route', 'get', method.destination]);
      const src = routes[0]?.prefsrc;
      if (!src) return undefined;
      for (const link of links) {
        const a = (link.addr_info ?? []).find((x) => x.local === src);
        if (a) return `${a.local}/${a.prefixlen}`;
      }
      return undefined;
    }
  }
}
