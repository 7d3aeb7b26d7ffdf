// Normalised policies and profiles → the PolicyProgram / ProfileProgram messages the dataplane runs,
// plus the IP sets each program references. Shared by the calc graph (which reference-counts the sets)
// and the snapshot evaluator (which resolves them directly).

import type { IpSetSpec, PolicyProgram, ProfileProgram } from '../dataplane-api/index.ts';
import type { Rule } from '../model/index.ts';
import type { NormalizedPolicy } from './policy-model.ts';
import { compileRules } from './rule-compiler.ts';

export interface CompiledPolicy {
  program: PolicyProgram;
  ipSets: IpSetSpec[];
}

export interface CompiledProfile {
  program: ProfileProgram;
  ipSets: IpSetSpec[];
}

export function compilePolicy(p: NormalizedPolicy): CompiledPolicy {
  const sets = new Map<string, IpSetSpec>();
  const ctx = {
    owner: 'policy' as const, id: p.id, kind: p.ref.kind, name: p.ref.name, tier: p.tier,
    ...(p.ref.namespace !== undefined ? { namespace: p.ref.namespace } : {}),
    scopeNamespace: p.scopeNamespace,
  };
  // Rules of a direction the policy does not apply to are never evaluated, so they are not compiled.
  const ingress = p.types.includes('ingress') ? compileRules(p.ingress, 'ingress', ctx, sets).rules : [];
  const egress = p.types.includes('egress') ? compileRules(p.egress, 'egress', ctx, sets).rules : [];
  const program: PolicyProgram = {
    id: p.id,
    kind: p.ref.kind,
    ...(p.ref.namespace !== undefined ? { namespace: p.ref.namespace } : {}),
    name: p.ref.name,
    tier: p.tier,
    order: p.order,
    staged: p.staged,
    selector: p.selector.canonical,
    types: [...p.types],
    ingress,
    egress,
    doNotTrack: p.doNotTrack,
    preDNAT: p.preDNAT,
    applyOnForward: p.applyOnForward,
  };
  return { program, ipSets: [...sets.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
}

export function compileProfile(id: string, ingressRules: Rule[], egressRules: Rule[]): CompiledProfile {
  const sets = new Map<string, IpSetSpec>();
  const ctx = { owner: 'profile' as const, id, kind: 'Profile', name: id };
  const ingress = compileRules(ingressRules, 'ingress', ctx, sets).rules;
  const egress = compileRules(egressRules, 'egress', ctx, sets).rules;
  return { program: { id, ingress, egress }, ipSets: [...sets.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
}

/** What a Kubernetes namespace's profile `kns.<ns>` holds: allow everything both ways. */
export const ALLOW_ALL_RULES: Rule[] = [{ action: 'Allow' }];
