// What selectors see: workload endpoints (a stored WorkloadEndpoint, or a Pod without one), host endpoints
// and network sets, each as a label holder with its own labels (plus the projectcalico.org/* stamps), the
// profiles it inherits labels from, the CIDRs it puts into IP sets and its named ports. Label inheritance
// (kns.<ns> → pcns.*, ksa.<ns>.<sa> → pcsa.*, Profile labelsToApply) is resolved by effectiveLabels.
// Awkward cases: pods with no labels or no IPs, unparsable addresses (skipped), WEPs shadowing their pods.

import { hostCidr, normalizeCidr, tryParseCidr } from '../lib/index.ts';
import type {
  GlobalNetworkSet, HostEndpoint, Labels, NetworkSet, Pod, WorkloadEndpoint,
} from '../model/index.ts';
import type { HostEndpointState, WorkloadEndpointState } from '../dataplane-api/index.ts';
import {
  LABEL_NAMESPACE, LABEL_ORCHESTRATOR, LABEL_SERVICE_ACCOUNT, namespaceProfileId, ORCHESTRATOR_K8S,
  serviceAccountProfileId,
} from './labels.ts';

export interface NamedPort {
  name: string;
  /** Lower-case protocol name: tcp, udp, sctp. */
  protocol: string;
  port: number;
}

interface HolderBase {
  id: string;
  ownLabels: Labels;
  /** Profiles whose labels are inherited, in order (earlier wins; own labels win over all). */
  parents: string[];
  /** Canonical CIDRs this holder contributes to `net` IP sets. */
  nets: string[];
  ports: NamedPort[];
}

export interface WorkloadHolder extends HolderBase {
  role: 'workload';
  /** `ns/pod` when this endpoint belongs to a Kubernetes pod (a WEP for it hides the Pod itself). */
  podKey?: string;
  state: Omit<WorkloadEndpointState, 'tiers' | 'pendingTiers'>;
}

export interface HostHolder extends HolderBase {
  role: 'host';
  state: Omit<HostEndpointState, 'tiers' | 'untrackedTiers' | 'preDnatTiers' | 'forwardTiers' | 'pendingTiers'>;
}

export interface NetworkSetHolder extends HolderBase {
  role: 'network-set';
}

export type LabelHolder = WorkloadHolder | HostHolder | NetworkSetHolder;

export function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

const CANONICAL_V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(\/32)?$/;

/** Host CIDR of an address or of the address part of a CIDR; undefined when unparsable. */
function hostNet(text: string): string | undefined {
  // Fast path for the common case, an IPv4 address already in canonical form (no BigInt round trip).
  if (CANONICAL_V4.test(text)) return text.endsWith('/32') ? text : `${text}/32`;
  const c = tryParseCidr(text, true);
  if (!c) return undefined;
  return hostCidr({ family: c.family, value: c.address }).text;
}

function uniqueSorted(list: string[]): string[] {
  return [...new Set(list)].sort();
}

function splitFamilies(nets: string[]): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const n of nets) (n.includes(':') ? v6 : v4).push(n);
  return { v4, v6 };
}

function stamp(own: Labels | undefined, ns: string, orchestrator: string, sa: string | undefined): Labels {
  // Object.assign, not spread: several times faster here, and this runs for every pod of the cluster.
  const labels: Labels = Object.assign({}, own);
  labels[LABEL_NAMESPACE] = ns;
  labels[LABEL_ORCHESTRATOR] = orchestrator;
  if (sa) labels[LABEL_SERVICE_ACCOUNT] = sa;
  return labels;
}

function k8sParents(ns: string, sa: string | undefined): string[] {
  return sa ? [namespaceProfileId(ns), serviceAccountProfileId(ns, sa)] : [namespaceProfileId(ns)];
}

export function workloadFromWep(wep: WorkloadEndpoint): WorkloadHolder {
  const spec = wep.spec ?? ({ node: '' } as WorkloadEndpoint['spec']);
  const ns = wep.metadata.namespace || 'default';
  const orchestrator = spec.orchestrator || (spec.pod ? ORCHESTRATOR_K8S : 'cni');
  const sa = spec.serviceAccountName || undefined;
  let profiles = [...(spec.profiles ?? [])];
  // Every Kubernetes pod carries its namespace's profile (and its service account's), stored or not.
  if (orchestrator === ORCHESTRATOR_K8S) {
    const implicit = k8sParents(ns, sa).filter((p) => !profiles.includes(p));
    profiles = [...implicit, ...profiles];
  }
  const nets = uniqueSorted((spec.ipNetworks ?? []).map(hostNet).filter((n): n is string => n !== undefined));
  const { v4, v6 } = splitFamilies(nets);
  const ports = (spec.ports ?? [])
    .filter((p) => p && p.name)
    .map((p) => ({ name: p.name, protocol: String(p.protocol || 'TCP').toLowerCase(), port: p.port }));
  const id = `wep:${ns}/${wep.metadata.name}`;
  return {
    role: 'workload',
    id,
    podKey: spec.pod ? podKey(ns, spec.pod) : undefined,
    ownLabels: stamp(wep.metadata.labels, ns, orchestrator, sa),
    parents: profiles,
    nets,
    ports,
    state: {
      id,
      source: 'wep',
      namespace: ns,
      name: wep.metadata.name,
      ...(spec.pod ? { pod: spec.pod } : {}),
      node: spec.node ?? '',
      orchestrator,
      ...(spec.interfaceName ? { interfaceName: spec.interfaceName } : {}),
      ...(spec.mac ? { mac: spec.mac } : {}),
      ipv4Nets: v4,
      ipv6Nets: v6,
      profileIds: profiles,
      ...(spec.allowSpoofedSourcePrefixes && spec.allowSpoofedSourcePrefixes.length > 0
        ? { allowSpoofedSourcePrefixes: spec.allowSpoofedSourcePrefixes.map((c) => normalizeCidr(c)) }
        : {}),
    },
  };
}

/** A Pod seen without a WorkloadEndpoint: simulated from its labels, service account, ports and status IPs. */
export function workloadFromPod(pod: Pod): WorkloadHolder {
  const ns = pod.metadata.namespace || 'default';
  const spec = pod.spec ?? {};
  // The API server fills serviceAccountName with "default"; stored pods may predate that.
  const sa = spec.serviceAccountName || 'default';
  const ips = [
    ...(pod.status?.podIPs ?? []).map((p) => p?.ip),
    pod.status?.podIP,
  ].filter((ip): ip is string => typeof ip === 'string' && ip !== '');
  const nets = uniqueSorted(ips.map(hostNet).filter((n): n is string => n !== undefined));
  const { v4, v6 } = splitFamilies(nets);
  const ports: NamedPort[] = [];
  for (const c of spec.containers ?? []) {
    for (const p of c?.ports ?? []) {
      if (p && p.name) ports.push({ name: p.name, protocol: String(p.protocol || 'TCP').toLowerCase(), port: p.containerPort });
    }
  }
  const parents = k8sParents(ns, sa);
  const id = `pod:${ns}/${pod.metadata.name}`;
  return {
    role: 'workload',
    id,
    podKey: podKey(ns, pod.metadata.name),
    ownLabels: stamp(pod.metadata.labels, ns, ORCHESTRATOR_K8S, sa),
    parents,
    nets,
    ports,
    state: {
      id,
      source: 'pod',
      namespace: ns,
      name: pod.metadata.name,
      pod: pod.metadata.name,
      node: spec.nodeName ?? '',
      orchestrator: ORCHESTRATOR_K8S,
      ipv4Nets: v4,
      ipv6Nets: v6,
      profileIds: parents,
    },
  };
}

export function hostFromHep(hep: HostEndpoint): HostHolder {
  const spec = hep.spec ?? ({ node: '' } as HostEndpoint['spec']);
  const expected = (spec.expectedIPs ?? []).map(hostNet).filter((n): n is string => n !== undefined);
  const nets = uniqueSorted(expected);
  const profiles = [...(spec.profiles ?? [])];
  const id = `hep:${hep.metadata.name}`;
  return {
    role: 'host',
    id,
    ownLabels: { ...(hep.metadata.labels ?? {}) },
    parents: profiles,
    nets,
    ports: (spec.ports ?? []).filter((p) => p && p.name).map((p) => ({ name: p.name, protocol: String(p.protocol || 'TCP').toLowerCase(), port: p.port })),
    state: {
      id,
      name: hep.metadata.name,
      node: spec.node ?? '',
      ...(spec.interfaceName ? { interfaceName: spec.interfaceName } : {}),
      expectedIPs: nets.map((n) => n.slice(0, n.indexOf('/'))),
      profileIds: profiles,
    },
  };
}

function setNets(nets: string[] | undefined): string[] {
  return uniqueSorted((nets ?? []).map((n) => tryParseCidr(n, true)?.text).filter((n): n is string => n !== undefined));
}

export function networkSetHolder(set: NetworkSet | GlobalNetworkSet): NetworkSetHolder {
  if (set.kind === 'NetworkSet') {
    const ns = set.metadata.namespace || 'default';
    return {
      role: 'network-set',
      id: `netset:${ns}/${set.metadata.name}`,
      ownLabels: { ...(set.metadata.labels ?? {}), [LABEL_NAMESPACE]: ns },
      parents: [namespaceProfileId(ns)],
      nets: setNets(set.spec?.nets),
      ports: [],
    };
  }
  return {
    role: 'network-set',
    id: `gnetset:${set.metadata.name}`,
    ownLabels: { ...(set.metadata.labels ?? {}) },
    parents: [],
    nets: setNets(set.spec?.nets),
    ports: [],
  };
}

/** Own labels over inherited ones; among parents the earlier profile wins. */
export function effectiveLabels(holder: { ownLabels: Labels; parents: string[] }, profileLabels: (id: string) => Labels | undefined): Labels {
  if (holder.parents.length === 0) return holder.ownLabels;
  const out: Labels = {};
  for (let i = holder.parents.length - 1; i >= 0; i--) Object.assign(out, profileLabels(holder.parents[i]) ?? {});
  return Object.assign(out, holder.ownLabels);
}

/** The `ip-and-port` members a holder contributes for one named port (protocol 'any' = whatever it is served on). */
export function namedPortMembers(holder: { nets: string[]; ports: NamedPort[] }, name: string, protocol: string): string[] {
  const out: string[] = [];
  for (const p of holder.ports) {
    if (p.name !== name || (protocol !== 'any' && p.protocol !== protocol)) continue;
    for (const n of holder.nets) {
      const slash = n.indexOf('/');
      const full = n.includes(':') ? '/128' : '/32';
      if (n.slice(slash) !== full) continue;
      out.push(`${n.slice(0, slash)},${p.protocol}:${p.port}`);
    }
  }
  return out;
}

