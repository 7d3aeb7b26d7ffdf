// Kubernetes networking.k8s.io/v1 NetworkPolicy → brindle's (Calico's) policy model, as Calico's KDD
// conversion does it (reference/calico.md §3.7): tier `default`, order 1000, podSelector ANDed with
// `projectcalico.org/orchestrator == "k8s"`, one Allow rule per (protocol × peer), ipBlock as nets/notNets,
// namespaceSelector kept for the scoping step in policy-model.ts. Pure; unconvertible peers or ports are
// dropped with an error recorded, the rest of the policy still applies.

import { InvalidError, normalizeCidr } from '../lib/index.ts';
import { quoteSelectorValue } from '../model/index.ts';
import type {
  EntityRule, K8sLabelSelector, K8sNetworkPolicyPeer, K8sNetworkPolicyPort, KubernetesNetworkPolicy, PolicyType, Port, Rule,
} from '../model/index.ts';
import { LABEL_ORCHESTRATOR, ORCHESTRATOR_K8S } from './labels.ts';

export const K8S_POLICY_ORDER = 1000;
export const K8S_POLICY_TIER = 'default';

export interface ConvertedK8sPolicy {
  tier: string;
  order: number;
  /** Endpoint selector before namespace scoping. */
  selector: string;
  types: PolicyType[];
  ingress: Rule[];
  egress: Rule[];
  /** One line per dropped rule part, naming the field. */
  errors: string[];
}

function quoteList(values: string[] | undefined): string {
  return (values ?? []).map(quoteSelectorValue).join(', ');
}

/**
 * A Kubernetes label selector in the selector language. `forPods` adds the orchestrator term (only
 * Kubernetes pods are selected); a namespace selector with no terms means every namespace: all().
 */
export function k8sSelectorToCalico(s: K8sLabelSelector | undefined, forPods: boolean): string {
  const terms: string[] = [];
  if (forPods) terms.push(`${LABEL_ORCHESTRATOR} == ${quoteSelectorValue(ORCHESTRATOR_K8S)}`);
  if (s === undefined || s === null) return terms.join(' && ');
  const labels = s.matchLabels ?? {};
  const exprs = s.matchExpressions ?? [];
  if (!forPods && Object.keys(labels).length === 0 && exprs.length === 0) return 'all()';
  for (const k of Object.keys(labels).sort()) terms.push(`${k} == ${quoteSelectorValue(labels[k])}`);
  for (const e of exprs) {
    switch (e.operator) {
      case 'In': terms.push(`${e.key} in {${quoteList(e.values)}}`); break;
      case 'NotIn': terms.push(`${e.key} not in {${quoteList(e.values)}}`); break;
      case 'Exists': terms.push(`has(${e.key})`); break;
      case 'DoesNotExist': terms.push(`!has(${e.key})`); break;
      default:
        throw new InvalidError('matchExpressions', `unknown operator ${JSON.stringify((e as { operator: unknown }).operator)}`);
    }
  }
  return terms.join(' && ');
}

/** Coalesces numeric ports and ranges into the fewest ranges; named ports are kept, in order, after them. */
export function simplifyPorts(ports: Port[]): Port[] {
  const ranges: Array<[number, number]> = [];
  const named: string[] = [];
  for (const p of ports) {
    if (typeof p === 'number') { ranges.push([p, p]); continue; }
    const m = /^(\d+):(\d+)$/.exec(p);
    if (m) ranges.push([Number(m[1]), Number(m[2])]);
    else if (/^\d+$/.test(p)) ranges.push([Number(p), Number(p)]);
    else if (!named.includes(p)) named.push(p);
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: Array<[number, number]> = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  const out: Port[] = merged.map(([a, b]) => (a === b ? a : `${a}:${b}`));
  return [...out, ...named];
}

interface PortConversion {
  /** '' = any protocol. */
  protocol: string;
  /** undefined = every port of the protocol. */
  port?: Port;
}

function convertPort(p: K8sNetworkPolicyPort, where: string): PortConversion {
  const protocol = p.protocol ?? 'TCP';
  if (p.port === undefined || p.port === null) {
    if (p.endPort !== undefined) throw new InvalidError(`${where}.endPort`, 'endPort needs port');
    return { protocol };
  }
  if (typeof p.port === 'string' && !/^\d+$/.test(p.port)) {
    if (p.endPort !== undefined) throw new InvalidError(`${where}.endPort`, `endPort cannot be used with named port "${p.port}"`);
    return { protocol, port: p.port };
  }
  const start = Number(p.port);
  if (!Number.isInteger(start) || start < 1 || start > 65535) throw new InvalidError(`${where}.port`, `port ${JSON.stringify(p.port)} is out of range 1-65535`);
  if (p.endPort !== undefined) {
    if (!Number.isInteger(p.endPort) || p.endPort < start || p.endPort > 65535) {
      throw new InvalidError(`${where}.endPort`, `endPort ${p.endPort} must be between port ${start} and 65535`);
    }
    return { protocol, port: p.endPort === start ? start : `${start}:${p.endPort}` };
  }
  return { protocol, port: start };
}

function convertPeer(peer: K8sNetworkPolicyPeer, where: string): EntityRule {
  if (peer.ipBlock) {
    const nets = [normalizeCidr(peer.ipBlock.cidr)];
    const notNets = (peer.ipBlock.except ?? []).map((c) => normalizeCidr(c));
    return notNets.length > 0 ? { nets, notNets } : { nets };
  }
  if (!peer.podSelector && !peer.namespaceSelector) throw new InvalidError(where, 'peer has no podSelector, namespaceSelector or ipBlock');
  const er: EntityRule = { selector: k8sSelectorToCalico(peer.podSelector, true) };
  if (peer.namespaceSelector) er.namespaceSelector = k8sSelectorToCalico(peer.namespaceSelector, false);
  return er;
}

function convertRule(
  peers: K8sNetworkPolicyPeer[] | undefined, ports: K8sNetworkPolicyPort[] | undefined,
  ingress: boolean, where: string, errors: string[],
): Rule[] {
  // Ports grouped by protocol; `undefined` in the map = every port of that protocol.
  const byProtocol = new Map<string, Port[] | undefined>();
  const portList = ports ?? [];
  let anyPort = portList.length === 0;
  for (let i = 0; i < portList.length && !anyPort; i++) {
    const p = portList[i];
    if (!p || (p.port === undefined && p.protocol === undefined)) { anyPort = true; break; }
    let conv: PortConversion;
    try {
      conv = convertPort(p, `${where}.ports[${i}]`);
    } catch (err) {
      errors.push((err as Error).message);
      continue;
    }
    if (conv.port === undefined) { byProtocol.set(conv.protocol, undefined); continue; }
    if (byProtocol.has(conv.protocol) && byProtocol.get(conv.protocol) === undefined) continue;
    byProtocol.set(conv.protocol, [...(byProtocol.get(conv.protocol) ?? []), conv.port]);
  }
  if (anyPort) {
    byProtocol.clear();
    byProtocol.set('', undefined);
  } else if (byProtocol.size === 0) {
    // Every port entry failed to convert: the rule allowed only those, so it now allows nothing.
    return [];
  }

  const peerList: Array<EntityRule | undefined> = [];
  if (!peers || peers.length === 0) peerList.push(undefined);
  else {
    peers.forEach((peer, i) => {
      try {
        peerList.push(convertPeer(peer, `${where}.${ingress ? 'from' : 'to'}[${i}]`));
      } catch (err) {
        errors.push((err as Error).message);
      }
    });
  }

  const rules: Rule[] = [];
  for (const protocol of [...byProtocol.keys()].sort()) {
    const portsFor = byProtocol.get(protocol);
    const simplified = portsFor ? simplifyPorts(portsFor) : undefined;
    for (const peer of peerList) {
      const rule: Rule = { action: 'Allow' };
      if (protocol !== '') rule.protocol = protocol;
      const portPart: EntityRule = simplified ? { ports: simplified } : {};
      if (ingress) {
        if (peer) rule.source = { ...peer };
        if (simplified) rule.destination = portPart;
      } else if (peer || simplified) {
        rule.destination = { ...portPart, ...(peer ?? {}) };
      }
      rules.push(rule);
    }
  }
  return rules;
}

/** policyTypes when given; otherwise Ingress, plus Egress when there are egress rules (the API server's default). */
export function k8sPolicyTypes(spec: KubernetesNetworkPolicy['spec']): PolicyType[] {
  const given = spec.policyTypes ?? [];
  if (given.length > 0) {
    const out: PolicyType[] = [];
    if (given.includes('Ingress')) out.push('Ingress');
    if (given.includes('Egress')) out.push('Egress');
    return out;
  }
  return (spec.egress ?? []).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

export function convertK8sNetworkPolicy(knp: KubernetesNetworkPolicy): ConvertedK8sPolicy {
  const spec = knp.spec ?? ({ podSelector: {} } as KubernetesNetworkPolicy['spec']);
  const errors: string[] = [];
  const types = k8sPolicyTypes(spec);
  const ingress: Rule[] = [];
  const egress: Rule[] = [];
  // Rules for a direction the policy does not list are ignored, as Kubernetes specifies.
  if (types.includes('Ingress')) {
    (spec.ingress ?? []).forEach((r, i) => ingress.push(...convertRule(r?.from, r?.ports, true, `spec.ingress[${i}]`, errors)));
  }
  if (types.includes('Egress')) {
    (spec.egress ?? []).forEach((r, i) => egress.push(...convertRule(r?.to, r?.ports, false, `spec.egress[${i}]`, errors)));
  }
  let selector: string;
  try {
    selector = k8sSelectorToCalico(spec.podSelector ?? {}, true);
  } catch (err) {
    throw new InvalidError('spec.podSelector', (err as Error).message);
  }
  return { tier: K8S_POLICY_TIER, order: K8S_POLICY_ORDER, selector, types, ingress, egress, errors };
}
