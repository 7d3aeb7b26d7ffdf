// Profiles as the calc graph sees them: stored Profile resources, plus the ones Kubernetes objects imply —
// `kns.<ns>` (allow everything, hands down the namespace's labels as pcns.*) and `ksa.<ns>.<sa>` (labels
// only, as pcsa.*). These exist whether or not the Namespace / ServiceAccount is stored, so a pod in a
// namespace nobody created still gets the allow-all fallback. A missing stored profile has no rules: deny.

import type { Labels, Profile, Rule } from '../model/index.ts';
import {
  NAMESPACE_PROFILE_PREFIX, namespaceInheritedLabels, SERVICE_ACCOUNT_PROFILE_PREFIX, serviceAccountInheritedLabels,
} from './labels.ts';
import { ALLOW_ALL_RULES } from './policy-programs.ts';

/** Calico's built-in profile that allows everything (auto host endpoints carry it). */
export const DEFAULT_ALLOW_PROFILE = 'projectcalico-default-allow';

export interface ProfileInputs {
  /** Labels of a stored Namespace, undefined when there is none. */
  namespaceLabels(ns: string): Labels | undefined;
  serviceAccountLabels(ns: string, sa: string): Labels | undefined;
  profile(name: string): Profile | undefined;
}

export type ProfileOrigin =
  | { type: 'namespace'; namespace: string }
  | { type: 'service-account'; namespace: string; serviceAccount: string }
  | { type: 'stored'; name: string };

/** Which object a profile id stands for. Namespace names have no dots, so `ksa.<ns>.<sa>` splits at the first. */
export function profileOrigin(id: string): ProfileOrigin {
  if (id.startsWith(NAMESPACE_PROFILE_PREFIX) && id.length > NAMESPACE_PROFILE_PREFIX.length) {
    return { type: 'namespace', namespace: id.slice(NAMESPACE_PROFILE_PREFIX.length) };
  }
  if (id.startsWith(SERVICE_ACCOUNT_PROFILE_PREFIX)) {
    const rest = id.slice(SERVICE_ACCOUNT_PROFILE_PREFIX.length);
    const dot = rest.indexOf('.');
    if (dot > 0 && dot < rest.length - 1) return { type: 'service-account', namespace: rest.slice(0, dot), serviceAccount: rest.slice(dot + 1) };
  }
  return { type: 'stored', name: id };
}

export function profileLabels(id: string, inputs: ProfileInputs): Labels {
  const o = profileOrigin(id);
  switch (o.type) {
    case 'namespace': return namespaceInheritedLabels(o.namespace, inputs.namespaceLabels(o.namespace));
    case 'service-account': return serviceAccountInheritedLabels(o.serviceAccount, inputs.serviceAccountLabels(o.namespace, o.serviceAccount));
    case 'stored': return { ...(inputs.profile(o.name)?.spec?.labelsToApply ?? {}) };
  }
}

export function profileRules(id: string, inputs: ProfileInputs): { ingress: Rule[]; egress: Rule[] } {
  const o = profileOrigin(id);
  switch (o.type) {
    case 'namespace': return { ingress: ALLOW_ALL_RULES, egress: ALLOW_ALL_RULES };
    case 'service-account': return { ingress: [], egress: [] };
    case 'stored': {
      const p = inputs.profile(o.name);
      if (!p && o.name === DEFAULT_ALLOW_PROFILE) return { ingress: ALLOW_ALL_RULES, egress: ALLOW_ALL_RULES };
      return { ingress: p?.spec?.ingress ?? [], egress: p?.spec?.egress ?? [] };
    }
  }
}
