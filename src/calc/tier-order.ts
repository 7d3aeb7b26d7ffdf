// Orders the policies that apply to one endpoint into tiers (reference/calico.md §3.2): tiers by order
// (unset or missing tiers last, ties by name), policies by order (unset last), then name, namespace, kind.
// Builds both the enforced view (staged policies left out, so a staged-only tier has no end-of-tier drop)
// and the pending view (staged policies applied over their enforced counterparts).

import type { TierPolicies } from '../dataplane-api/index.ts';
import type { TierSpec } from '../model/index.ts';
import type { NormalizedPolicy } from './policy-model.ts';

export interface TierInfo {
  name: string;
  order: number | null;
  defaultAction: 'Deny' | 'Pass';
}

/** Tiers that exist without a Tier resource, with their fixed order and default action. */
export const BUILTIN_TIERS: Readonly<Record<string, TierInfo>> = {
  'kube-admin': { name: 'kube-admin', order: 1000, defaultAction: 'Pass' },
  default: { name: 'default', order: 1_000_000, defaultAction: 'Deny' },
  'kube-baseline': { name: 'kube-baseline', order: 10_000_000, defaultAction: 'Pass' },
};

/** The effective tier: built-ins are fixed; a stored Tier otherwise; a missing tier sorts last and denies. */
export function tierInfo(name: string, spec: TierSpec | undefined): TierInfo {
  const builtin = BUILTIN_TIERS[name];
  if (builtin) return builtin;
  if (!spec) return { name, order: null, defaultAction: 'Deny' };
  return {
    name,
    order: typeof spec.order === 'number' && Number.isFinite(spec.order) ? spec.order : null,
    defaultAction: spec.defaultAction === 'Pass' ? 'Pass' : 'Deny',
  };
}

function compareOrder(a: number | null, b: number | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a - b;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareTiers(a: TierInfo, b: TierInfo): number {
  return compareOrder(a.order, b.order) || compareText(a.name, b.name);
}

export function comparePolicies(a: NormalizedPolicy, b: NormalizedPolicy): number {
  return compareOrder(a.order, b.order)
    || compareText(a.ref.name, b.ref.name)
    || compareText(a.ref.namespace ?? '', b.ref.namespace ?? '')
    || compareText(a.ref.kind, b.ref.kind);
}

/** Enforced policies only. */
export function enforcedView(applicable: NormalizedPolicy[]): NormalizedPolicy[] {
  return applicable.filter((p) => !p.staged);
}

/**
 * The what-if set: staged `Set` policies join as if enforced and replace the enforced policy of the same
 * name; staged `Delete` removes it; `Learn` and `Ignore` change nothing. `replaced(id)` says whether any
 * staged Set/Delete policy anywhere (not only among the applicable ones) targets an enforced policy.
 */
export function pendingView(applicable: NormalizedPolicy[], replaced: (enforcedId: string) => boolean): NormalizedPolicy[] {
  return applicable.filter((p) => (p.staged ? p.stagedAction === 'Set' : !replaced(p.id)));
}

/** Does a staged policy replace or delete its counterpart in the pending view? */
export function stagedTargetsCounterpart(p: NormalizedPolicy): boolean {
  return p.staged && (p.stagedAction === 'Set' || p.stagedAction === 'Delete') && p.counterpartId !== undefined;
}

/** Groups policies into ordered tiers; tiers without any policy for either direction are left out. */
export function buildTiers(policies: NormalizedPolicy[], tierOf: (name: string) => TierInfo): TierPolicies[] {
  const byTier = new Map<string, NormalizedPolicy[]>();
  for (const p of policies) {
    if (!p.types.includes('ingress') && !p.types.includes('egress')) continue;
    const list = byTier.get(p.tier);
    if (list) list.push(p);
    else byTier.set(p.tier, [p]);
  }
  const tiers = [...byTier.keys()].map((n) => tierOf(n)).sort(compareTiers);
  return tiers.map((t) => {
    const ps = (byTier.get(t.name) as NormalizedPolicy[]).sort(comparePolicies);
    return {
      name: t.name,
      order: t.order,
      defaultAction: t.defaultAction,
      ingress: ps.filter((p) => p.types.includes('ingress')).map((p) => p.id),
      egress: ps.filter((p) => p.types.includes('egress')).map((p) => p.id),
    };
  });
}
