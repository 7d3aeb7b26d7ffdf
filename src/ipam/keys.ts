// Where IPAM state lives in the datastore, beside (not inside) the resource tree: blocks, per-host
// block affinities, one handle per workload attachment, and the IPAM configuration. Every IPAM
// module builds its keys here, so the layout is written down once.
//
//   /brindle/ipam/v1/blocks/<block name>            AllocationBlock JSON (the CAS unit for addresses)
//   /brindle/ipam/v1/affinities/<host>/<block name> BlockAffinity JSON (index of a host's blocks)
//   /brindle/ipam/v1/handles/<handle id>            IpamHandle JSON (which blocks hold a handle's IPs)
//   /brindle/ipam/v1/config                         IpamConfig JSON

export const IPAM_PREFIX = '/brindle/ipam/v1/';
export const BLOCKS_PREFIX = `${IPAM_PREFIX}blocks/`;
export const AFFINITIES_PREFIX = `${IPAM_PREFIX}affinities/`;
export const HANDLES_PREFIX = `${IPAM_PREFIX}handles/`;
export const IPAM_CONFIG_KEY = `${IPAM_PREFIX}config`;

/** Calico's block name: the canonical CIDR with `.`, `:` and `/` turned into `-` (`10.0.0.64/26` → `10-0-0-64-26`). */
export function blockName(cidr: string): string {
  return cidr.replace(/[.:/]/g, '-');
}

export function blockKey(cidr: string): string {
  return `${BLOCKS_PREFIX}${blockName(cidr)}`;
}

// Host names and handle ids come from outside (CNI args, container ids); escaping keeps `/` in one
// of them from opening a new key level.
const seg = (s: string) => encodeURIComponent(s);

export function hostAffinityPrefix(host: string): string {
  return `${AFFINITIES_PREFIX}${seg(host)}/`;
}

export function affinityKey(host: string, cidr: string): string {
  return `${hostAffinityPrefix(host)}${blockName(cidr)}`;
}

/** Host encoded in an affinity key, or undefined for keys outside the affinity tree. */
export function hostOfAffinityKey(key: string): string | undefined {
  if (!key.startsWith(AFFINITIES_PREFIX)) return undefined;
  const rest = key.slice(AFFINITIES_PREFIX.length);
  const slash = rest.indexOf('/');
  return slash > 0 ? decodeURIComponent(rest.slice(0, slash)) : undefined;
}

export function handleKey(handleId: string): string {
  return `${HANDLES_PREFIX}${seg(handleId)}`;
}
