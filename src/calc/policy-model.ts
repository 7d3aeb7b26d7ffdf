// Every policy kind (NetworkPolicy, GlobalNetworkPolicy, their Staged twins, Kubernetes NetworkPolicy)
// normalised into one shape: tier, order, a scoped endpoint selector (§3.5: a namespaced policy only
// selects its own namespace; serviceAccountSelector and GNP namespaceSelector become pcsa./pcns. terms),
// defaulted types and Calico rules. The calc graph, the snapshot evaluator and the trace all start here.

import { InvalidError } from '../lib/index.ts';
import { andSelectors, parseSelector, quoteSelectorValue } from '../model/index.ts';
import type { Selector } from '../model/index.ts';
import type { AnyResource, PolicySpec, Rule, StagedAction, StagedPolicySpec } from '../model/index.ts';
import type { Direction } from '../dataplane-api/index.ts';
import { convertK8sNetworkPolicy } from './k8s-conversion.ts';
import { LABEL_NAMESPACE, namespaceSelectorToEndpointSelector, serviceAccountSelectorToEndpointSelector } from './labels.ts';

export type PolicyKind =
  | 'NetworkPolicy' | 'GlobalNetworkPolicy' | 'StagedNetworkPolicy' | 'StagedGlobalNetworkPolicy' | 'KubernetesNetworkPolicy';

export const POLICY_KINDS: readonly PolicyKind[] = [
  'NetworkPolicy', 'GlobalNetworkPolicy', 'StagedNetworkPolicy', 'StagedGlobalNetworkPolicy', 'KubernetesNetworkPolicy',
];

const NAMESPACED: Record<PolicyKind, boolean> = {
  NetworkPolicy: true, GlobalNetworkPolicy: false, StagedNetworkPolicy: true, StagedGlobalNetworkPolicy: false, KubernetesNetworkPolicy: true,
};

/** The enforced kind a staged kind stands in for. */
const COUNTERPART: Partial<Record<PolicyKind, PolicyKind>> = {
  StagedNetworkPolicy: 'NetworkPolicy',
  StagedGlobalNetworkPolicy: 'GlobalNetworkPolicy',
};

export interface PolicyRef {
  kind: PolicyKind;
  namespace?: string;
  name: string;
}

export function isPolicyKind(kind: string): kind is PolicyKind {
  return (POLICY_KINDS as readonly string[]).includes(kind);
}

export function policyKindNamespaced(kind: PolicyKind): boolean {
  return NAMESPACED[kind];
}

/** Stable string id: `Kind/ns/name` or `Kind/name`; used as the ActivePolicy id and in traces. */
export function policyId(ref: PolicyRef): string {
  return NAMESPACED[ref.kind] ? `${ref.kind}/${ref.namespace ?? ''}/${ref.name}` : `${ref.kind}/${ref.name}`;
}

export function parsePolicyId(id: string): PolicyRef | undefined {
  const parts = id.split('/');
  const kind = parts[0];
  if (!isPolicyKind(kind)) return undefined;
  if (NAMESPACED[kind]) return parts.length === 3 ? { kind, namespace: parts[1], name: parts[2] } : undefined;
  return parts.length === 2 ? { kind, name: parts[1] } : undefined;
}

export interface NormalizedPolicy {
  id: string;
  ref: PolicyRef;
  tier: string;
  order: number | null;
  staged: boolean;
  stagedAction?: StagedAction;
  /** For a staged policy: the id of the enforced policy it would replace (or delete). */
  counterpartId?: string;
  /** The endpoints it applies to, scoped (namespace, service account, GNP namespaceSelector). */
  selector: Selector;
  types: Direction[];
  /** Calico rules; a namespaced policy's rule selectors are scoped when compiled (scopeNamespace). */
  ingress: Rule[];
  egress: Rule[];
  scopeNamespace?: string;
  doNotTrack: boolean;
  preDNAT: boolean;
  applyOnForward: boolean;
  /** performanceHints AssumeNeededOnEveryNode: active on every host whether or not it selects anything. */
  neededEverywhere: boolean;
  /** Parts of the source that could not be converted (Kubernetes conversion); the rest still applies. */
  errors: string[];
}

export function policyDirections(spec: { ingress?: Rule[]; egress?: Rule[]; types?: string[] }): Direction[] {
  const given = spec.types ?? [];
  if (given.length > 0) {
    const out: Direction[] = [];
    if (given.includes('Ingress')) out.push('ingress');
    if (given.includes('Egress')) out.push('egress');
    return out;
  }
  const hasIn = (spec.ingress ?? []).length > 0;
  const hasEg = (spec.egress ?? []).length > 0;
  if (hasEg && !hasIn) return ['egress'];
  if (hasEg && hasIn) return ['ingress', 'egress'];
  return ['ingress'];
}

/** `projectcalico.org/namespace == "<ns>"`: what scoping to one namespace ANDs in. */
export function namespaceScopeSelector(ns: string): string {
  return `${LABEL_NAMESPACE} == ${quoteSelectorValue(ns)}`;
}

function parse(text: string | undefined, field: string): Selector | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return parseSelector(text, { maxLength: Infinity });
  } catch (err) {
    throw new InvalidError(field, (err as Error).message);
  }
}

/** Is this a policy resource (any of the five kinds)? */
export function isPolicyResource(r: AnyResource): boolean {
  return isPolicyKind(r.kind);
}

/**
 * Normalises a policy resource. Throws InvalidError for input it cannot make sense of (a selector that
 * does not parse); callers treat such a policy as absent, as Felix's validation filter does.
 */
export function normalizePolicy(r: AnyResource): NormalizedPolicy {
  if (!isPolicyKind(r.kind)) throw new InvalidError('kind', `"${r.kind}" is not a policy kind`);
  const kind = r.kind;
  const name = r.metadata?.name;
  if (!name) throw new InvalidError('metadata.name', 'a policy needs a name');
  const namespaced = NAMESPACED[kind];
  const namespace = namespaced ? (r.metadata.namespace || 'default') : undefined;
  const ref: PolicyRef = namespaced ? { kind, namespace, name } : { kind, name };
  const id = policyId(ref);

  let spec: PolicySpec & StagedPolicySpec;
  let errors: string[] = [];
  if (kind === 'KubernetesNetworkPolicy') {
    const conv = convertK8sNetworkPolicy(r as Extract<AnyResource, { kind: 'KubernetesNetworkPolicy' }>);
    spec = {
      tier: conv.tier, order: conv.order, selector: conv.selector,
      types: conv.types, ingress: conv.ingress, egress: conv.egress,
    };
    errors = conv.errors;
  } else {
    spec = (r.spec ?? {}) as PolicySpec & StagedPolicySpec;
  }

  const parts: Selector[] = [];
  const sel = parse(spec.selector, 'spec.selector');
  if (sel) parts.push(sel);
  if (namespaced) parts.push(parseSelector(namespaceScopeSelector(namespace as string), { maxLength: Infinity }));
  else if (spec.namespaceSelector !== undefined && spec.namespaceSelector.trim() !== '') {
    try {
      parts.push(namespaceSelectorToEndpointSelector(spec.namespaceSelector));
    } catch (err) {
      throw new InvalidError('spec.namespaceSelector', (err as Error).message);
    }
  }
  if (spec.serviceAccountSelector !== undefined && spec.serviceAccountSelector.trim() !== '') {
    try {
      parts.push(serviceAccountSelectorToEndpointSelector(spec.serviceAccountSelector));
    } catch (err) {
      throw new InvalidError('spec.serviceAccountSelector', (err as Error).message);
    }
  }
  const staged = kind === 'StagedNetworkPolicy' || kind === 'StagedGlobalNetworkPolicy';
  const counterpartKind = COUNTERPART[kind];
  const types = policyDirections(spec);
  const preDNAT = spec.preDNAT === true;
  return {
    id,
    ref,
    tier: spec.tier && spec.tier !== '' ? spec.tier : 'default',
    order: typeof spec.order === 'number' && Number.isFinite(spec.order) ? spec.order : null,
    staged,
    stagedAction: staged ? (spec.stagedAction ?? 'Set') : undefined,
    counterpartId: counterpartKind ? policyId({ kind: counterpartKind, namespace, name }) : undefined,
    selector: andSelectors(...parts),
    // preDNAT policies only ever apply to ingress.
    types: preDNAT ? types.filter((t) => t === 'ingress') : types,
    ingress: spec.ingress ?? [],
    egress: spec.egress ?? [],
    scopeNamespace: namespace,
    doNotTrack: spec.doNotTrack === true,
    preDNAT,
    applyOnForward: spec.applyOnForward === true || spec.doNotTrack === true || preDNAT,
    neededEverywhere: (spec.performanceHints ?? []).includes('AssumeNeededOnEveryNode'),
    errors,
  };
}
