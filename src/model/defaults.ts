// Fills in Calico's (and Kubernetes') defaults after validation, so stored objects are explicit and
// `brindlectl get -o yaml` output re-applies unchanged. Runs on validated resources (manifest.ts calls it
// after validate.ts); it is idempotent: applyDefaults(applyDefaults(x)) deep-equals applyDefaults(x).
// Only fields whose default is a fixed fact are filled; runtime knobs (agent config) stay unset.

import { parseCidr } from '../lib/index.ts';
import { DEFAULT_BLOCK_SIZE, builtinTier } from './validate.ts';
import type {
  AnyResource,
  BGPConfiguration,
  IPPool,
  KubernetesNetworkPolicy,
  Pod,
  PolicySpec,
  PolicyType,
  Tier,
} from './types.ts';

export const DEFAULT_TIER = 'default';
export const DEFAULT_AS_NUMBER = 64512;
export const DEFAULT_BGP_PORT = 179;

/** Calico's rule: no rules or ingress only → [Ingress]; egress only → [Egress]; both → both. */
export function defaultPolicyTypes(spec: { ingress?: unknown[]; egress?: unknown[] }): PolicyType[] {
  const ingress = (spec.ingress?.length ?? 0) > 0;
  const egress = (spec.egress?.length ?? 0) > 0;
  if (egress && !ingress) return ['Egress'];
  if (egress && ingress) return ['Ingress', 'Egress'];
  return ['Ingress'];
}

function ipPool(r: IPPool): IPPool {
  const s = r.spec;
  const c = parseCidr(s.cidr);
  const spec: IPPool['spec'] = {
    // Stored in canonical text (Calico normalises the pool CIDR before persisting it).
    cidr: c.text,
    blockSize: s.blockSize ?? DEFAULT_BLOCK_SIZE[c.family],
    ipipMode: s.ipipMode ?? 'Never',
    vxlanMode: s.vxlanMode ?? 'Never',
    natOutgoing: s.natOutgoing ?? false,
    disabled: s.disabled ?? false,
    disableBGPExport: s.disableBGPExport ?? false,
    nodeSelector: s.nodeSelector === undefined || s.nodeSelector.trim() === '' ? 'all()' : s.nodeSelector,
  };
  if (s.namespaceSelector !== undefined) spec.namespaceSelector = s.namespaceSelector;
  spec.allowedUses = s.allowedUses ?? ['Workload', 'Tunnel'];
  spec.assignmentMode = s.assignmentMode ?? 'Automatic';
  return { ...r, spec };
}

function policy<S extends PolicySpec & { stagedAction?: string }>(spec: S, staged: boolean): S {
  const { tier, order, selector, types, stagedAction, ...rest } = spec;
  const out: Record<string, unknown> = {};
  if (staged) out.stagedAction = stagedAction ?? 'Set';
  out.tier = tier ?? DEFAULT_TIER;
  if (order !== undefined) out.order = order;
  if (selector !== undefined) out.selector = selector;
  out.types = types ?? defaultPolicyTypes(spec);
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) out[k] = v;
  return out as S;
}

function tier(r: Tier): Tier {
  const builtin = builtinTier(r.metadata.name);
  const spec = { ...r.spec };
  if (builtin && spec.order === undefined) spec.order = builtin.order;
  spec.defaultAction = spec.defaultAction ?? builtin?.defaultAction ?? 'Deny';
  return { ...r, spec };
}

function bgpConfiguration(r: BGPConfiguration): BGPConfiguration {
  // Only the cluster-wide object carries the global defaults; node.<name> objects override selectively.
  if (r.metadata.name !== 'default') return r;
  const s = r.spec;
  const spec: BGPConfiguration['spec'] = {
    logSeverityScreen: s.logSeverityScreen ?? 'Info',
    nodeToNodeMeshEnabled: s.nodeToNodeMeshEnabled ?? true,
    asNumber: s.asNumber ?? DEFAULT_AS_NUMBER,
  };
  for (const [k, v] of Object.entries(s)) if (v !== undefined && !(k in spec)) (spec as Record<string, unknown>)[k] = v;
  spec.listenPort = s.listenPort ?? DEFAULT_BGP_PORT;
  return { ...r, spec };
}

function k8sNetworkPolicy(r: KubernetesNetworkPolicy): KubernetesNetworkPolicy {
  const s = r.spec;
  // Kubernetes' API server defaults: policyTypes from the egress section, port protocol TCP.
  const policyTypes: PolicyType[] = s.policyTypes ?? ((s.egress?.length ?? 0) > 0 ? ['Ingress', 'Egress'] : ['Ingress']);
  const withTcp = <P extends { protocol?: string }>(ports: P[] | undefined): P[] | undefined => ports?.map((p) => ({ protocol: 'TCP', ...p }));
  const spec: KubernetesNetworkPolicy['spec'] = { podSelector: s.podSelector, policyTypes };
  if (s.ingress) spec.ingress = s.ingress.map((rule) => (rule.ports ? { ...rule, ports: withTcp(rule.ports) } : rule));
  if (s.egress) spec.egress = s.egress.map((rule) => (rule.ports ? { ...rule, ports: withTcp(rule.ports) } : rule));
  return { ...r, spec };
}

function pod(r: Pod): Pod {
  const s = r.spec;
  const spec = { ...s };
  // The ServiceAccount admission plugin gives every pod the namespace's "default" account.
  if (spec.serviceAccountName === undefined) spec.serviceAccountName = 'default';
  if (s.containers) {
    spec.containers = s.containers.map((c) => (c.ports ? { ...c, ports: c.ports.map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' })) } : c));
  }
  return { ...r, spec };
}

/** Returns a new resource with defaults filled in; the input is not modified. */
export function applyDefaults<R extends AnyResource>(resource: R): R {
  const r = structuredClone(resource) as AnyResource;
  let out: AnyResource;
  switch (r.kind) {
    case 'IPPool':
      out = ipPool(r);
      break;
    case 'NetworkPolicy':
    case 'GlobalNetworkPolicy':
      out = { ...r, spec: policy(r.spec, false) };
      break;
    case 'StagedNetworkPolicy':
    case 'StagedGlobalNetworkPolicy':
      out = { ...r, spec: policy(r.spec, true) };
      break;
    case 'Tier':
      out = tier(r);
      break;
    case 'BGPConfiguration':
      out = bgpConfiguration(r);
      break;
    case 'KubernetesNetworkPolicy':
      out = k8sNetworkPolicy(r);
      break;
    case 'Pod':
      out = pod(r);
      break;
    default:
      out = { ...r, spec: r.spec ?? {} } as AnyResource;
  }
  return out as R;
}
