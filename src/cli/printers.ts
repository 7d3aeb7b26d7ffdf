// Renders resources for `brindlectl get -o table|wide|yaml|json|name`. Tables have per-kind columns
// (wide adds more); yaml/json are valid input to `brindlectl apply` (one object, or a List).

import { encodeManifests, kindInfo } from '../model/index.ts';
import type { AnyResource, KindName } from '../model/index.ts';

export type OutputFormat = 'table' | 'wide' | 'yaml' | 'json' | 'name';
export const OUTPUT_FORMATS: OutputFormat[] = ['table', 'wide', 'yaml', 'json', 'name'];

interface Column {
  header: string;
  value(r: AnyResource): string;
  wide?: boolean;
}

const list = (xs: readonly unknown[] | undefined): string => (xs && xs.length > 0 ? xs.join(',') : '<none>');
const orNone = (v: unknown): string => (v === undefined || v === null || v === '' ? '<none>' : String(v));
const labels = (r: AnyResource): string => {
  const l = r.metadata.labels ?? {};
  const keys = Object.keys(l).sort();
  return keys.length ? keys.map((k) => `${k}=${l[k]}`).join(',') : '<none>';
};
const policyColumns: Column[] = [
  { header: 'TIER', value: (r) => orNone((r.spec as { tier?: string }).tier) },
  { header: 'ORDER', value: (r) => orNone((r.spec as { order?: number }).order) },
  { header: 'TYPES', value: (r) => list((r.spec as { types?: string[] }).types), wide: true },
  { header: 'SELECTOR', value: (r) => orNone((r.spec as { selector?: string }).selector), wide: true },
];

const COLUMNS: Partial<Record<KindName, Column[]>> = {
  IPPool: [
    { header: 'CIDR', value: (r) => (r.spec as { cidr: string }).cidr },
    { header: 'BLOCKSIZE', value: (r) => orNone((r.spec as { blockSize?: number }).blockSize) },
    { header: 'VXLAN', value: (r) => orNone((r.spec as { vxlanMode?: string }).vxlanMode), wide: true },
    { header: 'NAT', value: (r) => orNone((r.spec as { natOutgoing?: boolean }).natOutgoing), wide: true },
    { header: 'DISABLED', value: (r) => orNone((r.spec as { disabled?: boolean }).disabled), wide: true },
    { header: 'SELECTOR', value: (r) => orNone((r.spec as { nodeSelector?: string }).nodeSelector), wide: true },
  ],
  IPReservation: [{ header: 'CIDRS', value: (r) => list((r.spec as { reservedCIDRs?: string[] }).reservedCIDRs) }],
  Node: [
    { header: 'ASN', value: (r) => orNone((r.spec as { bgp?: { asNumber?: number } }).bgp?.asNumber) },
    { header: 'IPV4', value: (r) => orNone((r.spec as { bgp?: { ipv4Address?: string } }).bgp?.ipv4Address) },
    { header: 'IPV6', value: (r) => orNone((r.spec as { bgp?: { ipv6Address?: string } }).bgp?.ipv6Address), wide: true },
  ],
  WorkloadEndpoint: [
    { header: 'WORKLOAD', value: (r) => orNone((r.spec as { pod?: string; workload?: string }).pod ?? (r.spec as { workload?: string }).workload) },
    { header: 'NODE', value: (r) => (r.spec as { node: string }).node },
    { header: 'NETWORKS', value: (r) => list((r.spec as { ipNetworks?: string[] }).ipNetworks) },
    { header: 'INTERFACE', value: (r) => orNone((r.spec as { interfaceName?: string }).interfaceName) },
    { header: 'PROFILES', value: (r) => list((r.spec as { profiles?: string[] }).profiles), wide: true },
  ],
  HostEndpoint: [
    { header: 'NODE', value: (r) => (r.spec as { node: string }).node },
    { header: 'INTERFACE', value: (r) => orNone((r.spec as { interfaceName?: string }).interfaceName) },
    { header: 'IPS', value: (r) => list((r.spec as { expectedIPs?: string[] }).expectedIPs), wide: true },
  ],
  NetworkPolicy: policyColumns,
  GlobalNetworkPolicy: policyColumns,
  StagedNetworkPolicy: policyColumns,
  StagedGlobalNetworkPolicy: policyColumns,
  Tier: [
    { header: 'ORDER', value: (r) => orNone((r.spec as { order?: number }).order) },
    { header: 'DEFAULT-ACTION', value: (r) => orNone((r.spec as { defaultAction?: string }).defaultAction) },
  ],
  NetworkSet: [{ header: 'NETS', value: (r) => list((r.spec as { nets?: string[] }).nets) }],
  GlobalNetworkSet: [{ header: 'NETS', value: (r) => list((r.spec as { nets?: string[] }).nets) }],
  BGPPeer: [
    { header: 'PEERIP', value: (r) => orNone((r.spec as { peerIP?: string }).peerIP) },
    { header: 'NODE', value: (r) => orNone((r.spec as { node?: string }).node ?? (r.spec as { nodeSelector?: string }).nodeSelector) },
    { header: 'ASN', value: (r) => orNone((r.spec as { asNumber?: number }).asNumber) },
  ],
  BGPConfiguration: [
    { header: 'MESH', value: (r) => orNone((r.spec as { nodeToNodeMeshEnabled?: boolean }).nodeToNodeMeshEnabled) },
    { header: 'ASN', value: (r) => orNone((r.spec as { asNumber?: number }).asNumber) },
  ],
  Pod: [
    { header: 'IP', value: (r) => orNone((r.status as { podIP?: string } | undefined)?.podIP) },
    { header: 'NODE', value: (r) => orNone((r.spec as { nodeName?: string }).nodeName), wide: true },
    { header: 'SERVICEACCOUNT', value: (r) => orNone((r.spec as { serviceAccountName?: string }).serviceAccountName), wide: true },
  ],
  KubernetesNetworkPolicy: [
    { header: 'POD-SELECTOR', value: (r) => JSON.stringify((r.spec as { podSelector?: unknown }).podSelector ?? {}) },
    { header: 'TYPES', value: (r) => list((r.spec as { policyTypes?: string[] }).policyTypes), wide: true },
  ],
};

/** Lays rows out in space-separated columns, as kubectl does. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] + 3))).join('') + '\n';
  return line(headers) + rows.map(line).join('');
}

export function typedName(r: AnyResource): string {
  return `${kindInfo(r.kind).manifestKind.toLowerCase()}/${r.metadata.name}`;
}

export function formatResources(
  resources: AnyResource[],
  format: OutputFormat,
  opts: { kind: KindName; showNamespace: boolean; asList: boolean },
): string {
  switch (format) {
    case 'yaml':
    case 'json':
      if (resources.length === 0 && !opts.asList) return '';
      return encodeManifests(resources, format, { asList: opts.asList });
    case 'name':
      return resources.map((r) => typedName(r) + '\n').join('');
    case 'table':
    case 'wide': {
      const info = kindInfo(opts.kind);
      const cols = (COLUMNS[opts.kind] ?? []).filter((c) => format === 'wide' || !c.wide);
      const headers = [...(info.namespaced && opts.showNamespace ? ['NAMESPACE'] : []), 'NAME', ...cols.map((c) => c.header)];
      if (format === 'wide') headers.push('LABELS');
      const rows = resources.map((r) => [
        ...(info.namespaced && opts.showNamespace ? [r.metadata.namespace ?? ''] : []),
        r.metadata.name,
        ...cols.map((c) => c.value(r)),
        ...(format === 'wide' ? [labels(r)] : []),
      ]);
      return formatTable(headers, rows);
    }
  }
}
