// The kind registry: for each stored kind its scope, the apiVersions it is accepted under, and the
// names a user may type (case-insensitive singular, plural, short names). The CLI resolves kind
// arguments here and the datastore's resource client derives storage keys from `plural`.

import type { KindName } from './types.ts';
import { BRINDLE_API_VERSION, CALICO_API_VERSION } from './types.ts';

export interface KindInfo {
  kind: KindName;
  /** kind written in manifests (differs only for KubernetesNetworkPolicy → NetworkPolicy). */
  manifestKind: string;
  /** apiVersion used when printing. */
  apiVersion: string;
  /** every apiVersion accepted on input. */
  apiVersions: string[];
  namespaced: boolean;
  plural: string;
  shortNames: string[];
}

const OWN = [BRINDLE_API_VERSION, CALICO_API_VERSION];

function own(kind: KindName, namespaced: boolean, plural: string, shortNames: string[] = []): KindInfo {
  return { kind, manifestKind: kind, apiVersion: BRINDLE_API_VERSION, apiVersions: OWN, namespaced, plural, shortNames };
}

export const KINDS: readonly KindInfo[] = [
  own('IPPool', false, 'ippools', ['pool', 'pools', 'ippool']),
  own('IPReservation', false, 'ipreservations', ['ipres']),
  own('Node', false, 'nodes', ['no']),
  own('WorkloadEndpoint', true, 'workloadendpoints', ['wep', 'weps']),
  own('HostEndpoint', false, 'hostendpoints', ['hep', 'heps']),
  own('NetworkPolicy', true, 'networkpolicies', ['netpol', 'np', 'cnp', 'caliconetworkpolicy', 'caliconetworkpolicies']),
  own('GlobalNetworkPolicy', false, 'globalnetworkpolicies', ['gnp', 'cgnp', 'calicoglobalnetworkpolicy']),
  own('StagedNetworkPolicy', true, 'stagednetworkpolicies', ['snp']),
  own('StagedGlobalNetworkPolicy', false, 'stagedglobalnetworkpolicies', ['sgnp']),
  own('Tier', false, 'tiers', []),
  own('Profile', false, 'profiles', ['pro']),
  own('NetworkSet', true, 'networksets', ['netset', 'netsets']),
  own('GlobalNetworkSet', false, 'globalnetworksets', ['gns']),
  own('BGPConfiguration', false, 'bgpconfigurations', ['bgpconfig', 'bgpconfigs']),
  own('BGPPeer', false, 'bgppeers', ['bgppeer']),
  { ...own('AgentConfiguration', false, 'agentconfigurations', ['agentconfig', 'felixconfiguration', 'felixconfigurations', 'felixconfig']) },
  own('ClusterInformation', false, 'clusterinformations', ['clusterinfo']),
  { kind: 'Namespace', manifestKind: 'Namespace', apiVersion: 'v1', apiVersions: ['v1'], namespaced: false, plural: 'namespaces', shortNames: ['ns'] },
  { kind: 'Pod', manifestKind: 'Pod', apiVersion: 'v1', apiVersions: ['v1'], namespaced: true, plural: 'pods', shortNames: ['po'] },
  { kind: 'ServiceAccount', manifestKind: 'ServiceAccount', apiVersion: 'v1', apiVersions: ['v1'], namespaced: true, plural: 'serviceaccounts', shortNames: ['sa'] },
  {
    kind: 'KubernetesNetworkPolicy',
    manifestKind: 'NetworkPolicy',
    apiVersion: 'networking.k8s.io/v1',
    apiVersions: ['networking.k8s.io/v1'],
    namespaced: true,
    plural: 'kubernetesnetworkpolicies',
    shortNames: ['knp', 'k8snetworkpolicy', 'k8snetworkpolicies', 'networkpolicies.networking.k8s.io', 'networkpolicy.networking.k8s.io'],
  },
];

/** AgentConfiguration is also accepted as Calico's FelixConfiguration kind name. */
const MANIFEST_KIND_ALIASES: Record<string, KindName> = { FelixConfiguration: 'AgentConfiguration' };

const byAlias = new Map<string, KindInfo>();
for (const info of KINDS) {
  for (const alias of [info.kind, info.plural, ...info.shortNames]) byAlias.set(alias.toLowerCase(), info);
}

/** Resolves what a user typed on the command line (`gnp`, `IPPools`, `pod`, ...). */
export function lookupKind(name: string): KindInfo | undefined {
  return byAlias.get(name.toLowerCase());
}

export function kindInfo(kind: KindName): KindInfo {
  const info = KINDS.find((k) => k.kind === kind);
  if (!info) throw new Error(`kind registry has no entry for "${kind}"`);
  return info;
}

/** Resolves a manifest's (apiVersion, kind) pair, or undefined when brindle does not store it. */
export function kindForManifest(apiVersion: string, kind: string): KindInfo | undefined {
  const internal = MANIFEST_KIND_ALIASES[kind] ?? kind;
  return KINDS.find((k) => k.manifestKind === internal && k.apiVersions.includes(apiVersion))
    ?? KINDS.find((k) => k.kind === internal && k.apiVersions.includes(apiVersion));
}

export function allAliases(): string[] {
  return [...byAlias.keys()].sort();
}
