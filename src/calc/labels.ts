// The labels brindle stamps on endpoints and network sets, and the selector rewrites that scope policy
// selectors to them (reference/calico.md §2.1, §3.5): namespace and service-account labels are inherited
// as `pcns.<key>` / `pcsa.<key>`, so a rule's namespaceSelector becomes an ordinary endpoint selector.
// Used by policy normalisation (scoping) and by the endpoint model (stamping) alike.

import { parseSelector, selectorFromNode } from '../model/index.ts';
import type { Selector, SelectorNode } from '../model/index.ts';
import type { Labels } from '../model/index.ts';

export const LABEL_NAMESPACE = 'projectcalico.org/namespace';
export const LABEL_ORCHESTRATOR = 'projectcalico.org/orchestrator';
export const LABEL_SERVICE_ACCOUNT = 'projectcalico.org/serviceaccount';
export const LABEL_NAME = 'projectcalico.org/name';
export const LABEL_TIER = 'projectcalico.org/tier';
export const NAMESPACE_LABEL_PREFIX = 'pcns.';
export const SERVICE_ACCOUNT_LABEL_PREFIX = 'pcsa.';
export const ORCHESTRATOR_K8S = 'k8s';
/** Profile ids Kubernetes namespaces and service accounts give their pods. */
export const NAMESPACE_PROFILE_PREFIX = 'kns.';
export const SERVICE_ACCOUNT_PROFILE_PREFIX = 'ksa.';

export function namespaceProfileId(ns: string): string {
  return `${NAMESPACE_PROFILE_PREFIX}${ns}`;
}

export function serviceAccountProfileId(ns: string, sa: string): string {
  return `${SERVICE_ACCOUNT_PROFILE_PREFIX}${ns}.${sa}`;
}

/** Labels a namespace hands down to everything in it: `pcns.<key>` plus `pcns.projectcalico.org/name`. */
export function namespaceInheritedLabels(ns: string, nsLabels: Labels | undefined): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(nsLabels ?? {})) out[NAMESPACE_LABEL_PREFIX + k] = v;
  out[`${NAMESPACE_LABEL_PREFIX}${LABEL_NAME}`] = ns;
  return out;
}

/** Labels a service account hands down to its pods: `pcsa.<key>` plus `pcsa.projectcalico.org/name`. */
export function serviceAccountInheritedLabels(sa: string, saLabels: Labels | undefined): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(saLabels ?? {})) out[SERVICE_ACCOUNT_LABEL_PREFIX + k] = v;
  out[`${SERVICE_ACCOUNT_LABEL_PREFIX}${LABEL_NAME}`] = sa;
  return out;
}

function rewrite(n: SelectorNode, prefix: string, special: boolean): SelectorNode {
  switch (n.op) {
    case 'all':
      return special ? { op: 'has', label: LABEL_NAMESPACE } : n;
    case 'global':
      return special ? { op: 'not', expr: { op: 'has', label: LABEL_NAMESPACE } } : n;
    case 'not':
      return { op: 'not', expr: rewrite(n.expr, prefix, special) };
    case 'and': case 'or':
      return { op: n.op, exprs: n.exprs.map((e) => rewrite(e, prefix, special)) };
    case 'has':
      return { op: 'has', label: prefix + n.label };
    case 'in': case 'notIn':
      return { op: n.op, label: prefix + n.label, values: n.values };
    default:
      return { ...n, label: prefix + n.label };
  }
}

/**
 * A namespace selector as an endpoint selector: keys get the `pcns.` prefix, all() becomes "in some
 * namespace" and global() "in no namespace" (host endpoints, global network sets).
 */
export function namespaceSelectorToEndpointSelector(text: string): Selector {
  return selectorFromNode(rewrite(parseSelector(text, { maxLength: Infinity }).node, NAMESPACE_LABEL_PREFIX, true));
}

/** A service-account selector as an endpoint selector: keys get the `pcsa.` prefix. */
export function serviceAccountSelectorToEndpointSelector(text: string): Selector {
  return selectorFromNode(rewrite(parseSelector(text, { maxLength: Infinity }).node, SERVICE_ACCOUNT_LABEL_PREFIX, false));
}
