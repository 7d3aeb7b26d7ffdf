// The calculation graph (Felix's calc graph, reduced): ordered datastore updates in, ONE host's desired
// state out as dataplane-api messages. Pure and synchronous: no I/O, no timers; output depends only on the
// current inputs, and a no-op update emits nothing.
//
//   put/delete ──► resource tables ──► label holders (pods/WEPs/HEPs/network sets, inherited labels)
//                        │                  │ policyIndex (policy selectors × local endpoints)
//                        │                  │ ipSetIndex  (active rule selectors × every holder)
//                        ▼                  ▼
//                    policies ──► local endpoints: ordered tiers ──► active policies/profiles (refcounted)
//                                                                   ──► IP sets (refcounted, member deltas)
//                    nodes/pools/workloads ──► route groups (per IPAM block) ──► routes; nodes ──► VTEPs
//
// Awkward cases handled: invalid policies are treated as deleted (and reported); a WorkloadEndpoint hides
// the Pod it belongs to and the Pod comes back when the WEP goes; duplicate addresses are member-counted
// in IP sets and resolved deterministically in routes; references to missing namespaces, tiers, profiles
// or nodes resolve to empty/default values and fill in when the object arrives; IP sets no longer used
// stay indexed (bounded) so a relabel that brings a policy back does not rescan the cluster.

import { createHash } from 'node:crypto';
import { kindInfo } from '../model/index.ts';
import type { AnyResource, IPPool, KindName, Labels, Node, Profile, Selector, TierSpec } from '../model/index.ts';
import { parseSelector } from '../model/index.ts';
import type {
  DataplaneMessage, HostEndpointState, IpSetSpec, PolicyProgram, ProfileProgram, TierPolicies, WorkloadEndpointState,
} from '../dataplane-api/index.ts';
import {
  effectiveLabels, hostFromHep, namedPortMembers, networkSetHolder, workloadFromPod, workloadFromWep,
} from './endpoints.ts';
import type { LabelHolder, WorkloadHolder } from './endpoints.ts';
import { namespaceProfileId, serviceAccountProfileId } from './labels.ts';
import { isPolicyKind, normalizePolicy, policyId, policyKindNamespaced } from './policy-model.ts';
import type { NormalizedPolicy, PolicyKind } from './policy-model.ts';
import { compilePolicy, compileProfile } from './policy-programs.ts';
import type { CompiledPolicy } from './policy-programs.ts';
import { profileLabels, profileRules } from './profiles.ts';
import type { ProfileInputs } from './profiles.ts';
import { routeGroupKey, routesForGroup, vtepFor } from './routes.ts';
import type { RouteContext, RouteWorkload } from './routes.ts';
import { SelectorIndex } from './selector-index.ts';
import { buildTiers, enforcedView, pendingView, stagedTargetsCounterpart, tierInfo } from './tier-order.ts';
import type { TierInfo } from './tier-order.ts';

export type DatastoreUpdate =
  | { type: 'put'; resource: AnyResource }
  | { type: 'delete'; kind: KindName; namespace?: string; name: string }
  | { type: 'in-sync' };

export interface CalcGraphOptions {
  /** The host whose state is computed; '*' = every endpoint is local (whole-cluster simulation). */
  hostname: string;
}

export interface CalcGraphStats {
  holders: number;
  localEndpoints: number;
  policies: number;
  activePolicies: number;
  /** IP sets the dataplane has. */
  ipSets: number;
  /** Unreferenced sets kept warm in the index. */
  retiredIpSets: number;
  routes: number;
  policySelectorEvaluations: number;
  ipSetSelectorEvaluations: number;
}

export interface CalcProblem {
  resource: string;
  message: string;
}

interface PolicyEntry {
  /** Resource key, for problem reports. */
  key: string;
  norm: NormalizedPolicy;
  /**
   * Compiled on first need (a local endpoint selects it, or it is needed everywhere): most policies of a
   * large cluster never apply on a given host. Staged policies compile at once, since they act at a
   * distance (replacing their counterpart) and must be known valid before they do.
   */
  compiled?: CompiledPolicy;
  /** Why it cannot be compiled; such a policy is treated as absent. */
  invalid?: string;
}

interface IpSetEntry {
  spec: IpSetSpec;
  refs: number;
  members: Map<string, number>;
  /** An IpSetUpdate for it has gone out; afterwards only deltas. */
  sent: boolean;
  added: Set<string>;
  removed: Set<string>;
}

interface LocalEndpoint {
  /** Policies whose selector matches the endpoint. */
  applicable: Set<string>;
  sentJson?: string;
  policyRefs: Set<string>;
  profileRefs: Set<string>;
}

interface ActiveProgram {
  json: string;
  ipSets: string[];
}

function resourceKey(kind: KindName, namespace: string | undefined, name: string): string {
  let namespaced = false;
  try {
    namespaced = kindInfo(kind).namespaced;
  } catch {
    namespaced = namespace !== undefined;
  }
  return namespaced ? `${kind}/${namespace || 'default'}/${name}` : `${kind}//${name}`;
}

/**
 * What a put must change to be worth processing: labels, spec and status. Kept as a SHA-1 of their JSON
 * (27 characters instead of the whole text, for 50k-pod clusters); a collision would need 2^80 work.
 */
function fingerprint(r: AnyResource): string {
  return createHash('sha1').update(JSON.stringify([r.metadata?.labels ?? null, r.spec ?? null, r.status ?? null])).digest('base64url');
}

/**
 * How many unreferenced IP sets stay indexed. A pod relabel on this host can retire a policy and its sets
 * and the next bring them back; keeping them warm turns that into one IpSetUpdate instead of a fresh
 * selector scan. What is sent does not change: a retired set is removed from the dataplane at once.
 */
const RETIRED_SET_LIMIT = 256;

const HOLDER_KINDS: ReadonlySet<string> = new Set(['Pod', 'WorkloadEndpoint', 'HostEndpoint', 'NetworkSet', 'GlobalNetworkSet']);

// Structural comparisons without building strings: holder puts are the bulk of all updates, and what
// they allocate decides how often the young generation is collected (and so the update latency tail).

/** Equal plain values: strings, numbers, booleans, arrays and objects of them. */
export function deepEqualPlain(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqualPlain(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  let n = 0;
  for (const k in ao) {
    if (ao[k] === undefined) continue;
    n++;
    if (!deepEqualPlain(ao[k], bo[k])) return false;
  }
  for (const k in bo) if (bo[k] !== undefined) n--;
  return n === 0;
}

function sameRoutes(a: LabelHolder | undefined, b: LabelHolder | undefined): boolean {
  const wa = a?.role === 'workload' ? a : undefined;
  const wb = b?.role === 'workload' ? b : undefined;
  if (!wa || !wb) return wa === wb;
  return deepEqualPlain(wa.nets, wb.nets) && wa.state.node === wb.state.node && wa.state.interfaceName === wb.state.interfaceName;
}

function sameMembers(a: LabelHolder, b: LabelHolder): boolean {
  return deepEqualPlain(a.nets, b.nets) && deepEqualPlain(a.ports, b.ports);
}

/** Same labels, parents, members, ports and endpoint fields: a put that changes nothing. */
function sameHolder(a: LabelHolder, b: LabelHolder): boolean {
  if (a.role !== b.role || !sameMembers(a, b)) return false;
  if (!deepEqualPlain(a.ownLabels, b.ownLabels) || !deepEqualPlain(a.parents, b.parents)) return false;
  return a.role === 'network-set' || deepEqualPlain(a.state, (b as typeof a).state);
}

function tierIds(tiers: TierPolicies[], into: Set<string>): void {
  for (const t of tiers) {
    for (const id of t.ingress) into.add(id);
    for (const id of t.egress) into.add(id);
  }
}

export class CalcGraph implements ProfileInputs {
  readonly hostname: string;

  // Resource tables.
  private readonly fingerprints = new Map<string, string>();
  private readonly namespaces = new Map<string, Labels>();
  private readonly serviceAccounts = new Map<string, Labels>();
  private readonly profilesByName = new Map<string, Profile>();
  private readonly tiers = new Map<string, TierSpec>();
  private readonly nodes = new Map<string, Node>();
  private readonly pools = new Map<string, IPPool>();
  private poolList: IPPool[] = [];
  private readonly policies = new Map<string, PolicyEntry>();
  private readonly problemsByKey = new Map<string, string>();

  // Label holders.
  private readonly holders = new Map<string, LabelHolder>();
  private readonly storedPods = new Map<string, WorkloadHolder>();
  private readonly wepsByPod = new Map<string, Set<string>>();
  private readonly holdersByParent = new Map<string, Set<string>>();
  private readonly policyIndex: SelectorIndex;
  private readonly ipSetIndex: SelectorIndex;
  private readonly selectorUsers = new Map<string, Set<string>>();

  // Local endpoints and what they make active.
  private readonly locals = new Map<string, LocalEndpoint>();
  private readonly dirtyEndpoints = new Set<string>();
  private readonly stagedTargets = new Map<string, Set<string>>();
  private readonly policyRefs = new Map<string, number>();
  private readonly dirtyPolicies = new Set<string>();
  private readonly activePolicies = new Map<string, ActiveProgram>();
  private readonly profileRefs = new Map<string, number>();
  private readonly dirtyProfiles = new Set<string>();
  private readonly activeProfiles = new Map<string, ActiveProgram>();

  // IP sets.
  private readonly ipSets = new Map<string, IpSetEntry>();
  private readonly dirtySets = new Set<string>();
  /** Unreferenced sets still kept up to date, oldest first (see RETIRED_SET_LIMIT). */
  private readonly retiredSets = new Set<string>();

  // Routes and VTEPs.
  private readonly groupMembers = new Map<string, Set<string>>();
  /** Per workload holder: the route group of each of its nets, as [net, group] pairs. */
  private readonly holderGroups = new Map<string, Array<[string, string]>>();
  private readonly nodeHolders = new Map<string, Set<string>>();
  private readonly holderNode = new Map<string, string>();
  private readonly dirtyGroups = new Set<string>();
  private readonly groupRoutes = new Map<string, Set<string>>();
  private readonly sentRoutes = new Map<string, string>();
  private readonly dirtyVteps = new Set<string>();
  private readonly sentVteps = new Map<string, string>();

  private inSyncSeen = false;
  private inSyncSent = false;

  constructor(options: CalcGraphOptions) {
    this.hostname = options.hostname;
    this.policyIndex = new SelectorIndex({
      onMatch: (policy, holder) => {
        this.locals.get(holder)?.applicable.add(policy);
        this.dirtyEndpoints.add(holder);
      },
      onUnmatch: (policy, holder) => {
        this.locals.get(holder)?.applicable.delete(policy);
        this.dirtyEndpoints.add(holder);
      },
    });
    this.ipSetIndex = new SelectorIndex({
      onMatch: (sel, holder) => this.contribute(sel, holder, +1),
      onUnmatch: (sel, holder) => this.contribute(sel, holder, -1),
    });
  }

  // ------------------------------------------------------------------------------------------------
  // ProfileInputs

  namespaceLabels(ns: string): Labels | undefined {
    return this.namespaces.get(ns);
  }

  serviceAccountLabels(ns: string, sa: string): Labels | undefined {
    return this.serviceAccounts.get(`${ns}/${sa}`);
  }

  profile(name: string): Profile | undefined {
    return this.profilesByName.get(name);
  }

  /** Sizes and work counters, for benchmarks and for tests that check the indexes avoid scans. */
  stats(): CalcGraphStats {
    return {
      holders: this.holders.size,
      localEndpoints: this.locals.size,
      policies: this.policies.size,
      activePolicies: this.activePolicies.size,
      ipSets: this.ipSets.size - this.retiredSets.size,
      retiredIpSets: this.retiredSets.size,
      routes: this.sentRoutes.size,
      policySelectorEvaluations: this.policyIndex.evaluations,
      ipSetSelectorEvaluations: this.ipSetIndex.evaluations,
    };
  }

  /** Resources the graph treats as absent because they could not be used, with the reason. */
  problems(): CalcProblem[] {
    return [...this.problemsByKey].map(([resource, message]) => ({ resource, message })).sort((a, b) => (a.resource < b.resource ? -1 : 1));
  }

  // ------------------------------------------------------------------------------------------------
  // Input

  /** Applies updates, then flushes: the messages that bring the dataplane up to date. */
  apply(updates: Iterable<DatastoreUpdate>): DataplaneMessage[] {
    for (const u of updates) this.onUpdate(u);
    return this.flush();
  }

  onUpdate(u: DatastoreUpdate): void {
    if (u.type === 'in-sync') {
      this.inSyncSeen = true;
      return;
    }
    if (u.type === 'put') {
      const r = u.resource;
      const key = resourceKey(r.kind, r.metadata?.namespace, r.metadata?.name);
      // Label holders are compared on what the graph derives from them (setHolder), which costs no more
      // than a fingerprint; everything else is skipped early when its fingerprint is unchanged.
      const fp = HOLDER_KINDS.has(r.kind) ? '' : fingerprint(r);
      if (fp !== '' && this.fingerprints.get(key) === fp) return;
      this.fingerprints.set(key, fp);
      this.put(r);
      return;
    }
    const key = resourceKey(u.kind, u.namespace, u.name);
    if (!this.fingerprints.delete(key)) return;
    this.problemsByKey.delete(key);
    this.remove(u.kind, u.namespace || 'default', u.name);
  }

  private put(r: AnyResource): void {
    switch (r.kind) {
      case 'Namespace':
        this.namespaces.set(r.metadata.name, { ...(r.metadata.labels ?? {}) });
        this.relabelParent(namespaceProfileId(r.metadata.name));
        return;
      case 'ServiceAccount': {
        const ns = r.metadata.namespace || 'default';
        this.serviceAccounts.set(`${ns}/${r.metadata.name}`, { ...(r.metadata.labels ?? {}) });
        this.relabelParent(serviceAccountProfileId(ns, r.metadata.name));
        return;
      }
      case 'Profile':
        this.profilesByName.set(r.metadata.name, r);
        this.relabelParent(r.metadata.name);
        this.dirtyProfiles.add(r.metadata.name);
        return;
      case 'Tier':
        this.tiers.set(r.metadata.name, r.spec ?? {});
        for (const id of this.locals.keys()) this.dirtyEndpoints.add(id);
        return;
      case 'Node':
        this.nodes.set(r.metadata.name, r);
        this.nodeChanged(r.metadata.name);
        return;
      case 'IPPool':
        this.pools.set(r.metadata.name, r);
        this.poolsChanged();
        return;
      case 'WorkloadEndpoint': {
        const h = workloadFromWep(r);
        const old = this.holders.get(h.id) as WorkloadHolder | undefined;
        if (old?.podKey && old.podKey !== h.podKey) this.unlinkWep(old.podKey, h.id);
        this.setHolder(h);
        if (h.podKey) {
          const set = this.wepsByPod.get(h.podKey) ?? new Set<string>();
          set.add(h.id);
          this.wepsByPod.set(h.podKey, set);
          const pod = this.storedPods.get(h.podKey);
          if (pod) this.removeHolder(pod.id);
        }
        return;
      }
      case 'Pod': {
        const h = workloadFromPod(r);
        this.storedPods.set(h.podKey as string, h);
        if (!this.wepsByPod.has(h.podKey as string)) this.setHolder(h);
        return;
      }
      case 'HostEndpoint':
        this.setHolder(hostFromHep(r));
        return;
      case 'NetworkSet':
      case 'GlobalNetworkSet':
        this.setHolder(networkSetHolder(r));
        return;
      default:
        if (isPolicyKind(r.kind)) this.putPolicy(r);
    }
  }

  private remove(kind: KindName, namespace: string, name: string): void {
    switch (kind) {
      case 'Namespace':
        this.namespaces.delete(name);
        this.relabelParent(namespaceProfileId(name));
        return;
      case 'ServiceAccount':
        this.serviceAccounts.delete(`${namespace}/${name}`);
        this.relabelParent(serviceAccountProfileId(namespace, name));
        return;
      case 'Profile':
        this.profilesByName.delete(name);
        this.relabelParent(name);
        this.dirtyProfiles.add(name);
        return;
      case 'Tier':
        this.tiers.delete(name);
        for (const id of this.locals.keys()) this.dirtyEndpoints.add(id);
        return;
      case 'Node':
        this.nodes.delete(name);
        this.nodeChanged(name);
        return;
      case 'IPPool':
        this.pools.delete(name);
        this.poolsChanged();
        return;
      case 'WorkloadEndpoint': {
        const id = `wep:${namespace}/${name}`;
        const old = this.holders.get(id) as WorkloadHolder | undefined;
        this.removeHolder(id);
        if (old?.podKey) this.unlinkWep(old.podKey, id);
        return;
      }
      case 'Pod': {
        const key = `${namespace}/${name}`;
        const pod = this.storedPods.get(key);
        this.storedPods.delete(key);
        if (pod) this.removeHolder(pod.id);
        return;
      }
      case 'HostEndpoint':
        this.removeHolder(`hep:${name}`);
        return;
      case 'NetworkSet':
        this.removeHolder(`netset:${namespace}/${name}`);
        return;
      case 'GlobalNetworkSet':
        this.removeHolder(`gnetset:${name}`);
        return;
      default:
        if (isPolicyKind(kind)) {
          this.deletePolicy(policyId(policyKindNamespaced(kind) ? { kind, namespace, name } : { kind, name }));
        }
    }
  }

  /** A WEP no longer stands for its pod: when it was the last one, the stored Pod becomes visible again. */
  private unlinkWep(podKey: string, wepId: string): void {
    const set = this.wepsByPod.get(podKey);
    if (!set) return;
    set.delete(wepId);
    if (set.size > 0) return;
    this.wepsByPod.delete(podKey);
    const pod = this.storedPods.get(podKey);
    if (pod) this.setHolder(pod);
  }

  // ------------------------------------------------------------------------------------------------
  // Holders

  private isLocal(h: LabelHolder): boolean {
    if (h.role === 'network-set') return false;
    return this.hostname === '*' || h.state.node === this.hostname;
  }

  private readonly profileLabelCache = new Map<string, Labels>();

  private cachedProfileLabels = (id: string): Labels => {
    let l = this.profileLabelCache.get(id);
    if (!l) {
      l = profileLabels(id, this);
      this.profileLabelCache.set(id, l);
    }
    return l;
  };

  private labelsFor(h: LabelHolder): Labels {
    return effectiveLabels(h, this.cachedProfileLabels);
  }

  private setHolder(h: LabelHolder): void {
    const old = this.holders.get(h.id);
    if (old && sameHolder(old, h)) return;
    // Members are computed from the holder as stored, so changed addresses or ports are withdrawn first.
    if (old && !sameMembers(old, h)) this.ipSetIndex.deleteHolder(h.id);
    const routesChanged = old ? !sameRoutes(old, h) : h.role === 'workload';
    if (old) for (const p of old.parents) this.holdersByParent.get(p)?.delete(h.id);
    this.holders.set(h.id, h);
    for (const p of h.parents) {
      const set = this.holdersByParent.get(p) ?? new Set<string>();
      set.add(h.id);
      this.holdersByParent.set(p, set);
    }
    const labels = this.labelsFor(h);
    this.ipSetIndex.setHolder(h.id, labels);
    const wasLocal = this.locals.has(h.id);
    if (this.isLocal(h)) {
      if (!wasLocal) this.locals.set(h.id, { applicable: new Set(), policyRefs: new Set(), profileRefs: new Set() });
      this.policyIndex.setHolder(h.id, labels);
      this.dirtyEndpoints.add(h.id);
    } else if (wasLocal) {
      this.policyIndex.deleteHolder(h.id);
      this.dirtyEndpoints.add(h.id);
    }
    if (routesChanged) this.regroup(h.id, h);
  }

  private removeHolder(id: string): void {
    const old = this.holders.get(id);
    if (!old) return;
    this.ipSetIndex.deleteHolder(id);
    if (this.locals.has(id)) {
      this.policyIndex.deleteHolder(id);
      this.dirtyEndpoints.add(id);
    }
    for (const p of old.parents) this.holdersByParent.get(p)?.delete(id);
    this.holders.delete(id);
    this.regroup(id, undefined);
  }

  /** A profile's labels changed: re-evaluate every holder that inherits from it. */
  private relabelParent(profileId: string): void {
    this.profileLabelCache.delete(profileId);
    for (const id of this.holdersByParent.get(profileId) ?? []) {
      const h = this.holders.get(id);
      if (!h) continue;
      const labels = this.labelsFor(h);
      this.ipSetIndex.setHolder(id, labels);
      if (this.locals.has(id)) this.policyIndex.setHolder(id, labels);
    }
  }

  // ------------------------------------------------------------------------------------------------
  // Policies

  private putPolicy(r: AnyResource): void {
    const key = resourceKey(r.kind, r.metadata.namespace, r.metadata.name);
    const kind = r.kind as PolicyKind;
    const fallbackId = policyId(policyKindNamespaced(kind)
      ? { kind, namespace: r.metadata.namespace || 'default', name: r.metadata.name }
      : { kind, name: r.metadata.name });
    let entry: PolicyEntry;
    try {
      const norm = normalizePolicy(r);
      entry = norm.staged ? { key, norm, compiled: compilePolicy(norm) } : { key, norm };
    } catch (err) {
      // Invalid input is treated as deleted, as Felix's validation filter does.
      this.problemsByKey.set(key, (err as Error).message);
      this.deletePolicy(fallbackId);
      return;
    }
    this.problemsByKey.delete(key);
    const id = entry.norm.id;
    const old = this.policies.get(id);
    if (old) this.untargetStaged(old.norm);
    this.policies.set(id, entry);
    this.targetStaged(entry.norm);
    // Order, tier or types may have changed: every endpoint it selects, before and after, is recomputed.
    for (const h of this.policyIndex.matchesOfSelector(id)) this.dirtyEndpoints.add(h);
    this.policyIndex.setSelector(id, entry.norm.selector);
    for (const h of this.policyIndex.matchesOfSelector(id)) this.dirtyEndpoints.add(h);
    this.dirtyPolicies.add(id);
  }

  private deletePolicy(id: string): void {
    const old = this.policies.get(id);
    if (!old) return;
    this.untargetStaged(old.norm);
    this.policies.delete(id);
    this.policyIndex.deleteSelector(id);
    this.dirtyPolicies.add(id);
  }

  private targetStaged(p: NormalizedPolicy): void {
    if (!stagedTargetsCounterpart(p)) return;
    const target = p.counterpartId as string;
    const set = this.stagedTargets.get(target) ?? new Set<string>();
    set.add(p.id);
    this.stagedTargets.set(target, set);
    if (set.size === 1) for (const h of this.policyIndex.matchesOfSelector(target)) this.dirtyEndpoints.add(h);
  }

  private untargetStaged(p: NormalizedPolicy): void {
    if (!stagedTargetsCounterpart(p)) return;
    const target = p.counterpartId as string;
    const set = this.stagedTargets.get(target);
    if (!set || !set.delete(p.id)) return;
    if (set.size === 0) {
      this.stagedTargets.delete(target);
      for (const h of this.policyIndex.matchesOfSelector(target)) this.dirtyEndpoints.add(h);
    }
  }

  /** The policy's program, compiling it on first use; undefined (and reported) when it cannot be compiled. */
  private compiledPolicy(entry: PolicyEntry): CompiledPolicy | undefined {
    if (entry.compiled || entry.invalid !== undefined) return entry.compiled;
    try {
      entry.compiled = compilePolicy(entry.norm);
    } catch (err) {
      entry.invalid = (err as Error).message;
      this.problemsByKey.set(entry.key, entry.invalid);
    }
    return entry.compiled;
  }

  private tierOf = (name: string): TierInfo => tierInfo(name, this.tiers.get(name));

  private replaced = (id: string): boolean => (this.stagedTargets.get(id)?.size ?? 0) > 0;

  // ------------------------------------------------------------------------------------------------
  // IP sets

  private contribute(selector: string, holderId: string, sign: 1 | -1): void {
    const users = this.selectorUsers.get(selector);
    const h = this.holders.get(holderId);
    if (!users || !h) return;
    for (const setId of users) {
      const set = this.ipSets.get(setId) as IpSetEntry;
      const members = set.spec.type === 'net' ? h.nets : namedPortMembers(h, set.spec.namedPort?.name ?? '', set.spec.namedPort?.protocol ?? 'any');
      for (const m of members) this.countMember(set, setId, m, sign);
    }
  }

  private countMember(set: IpSetEntry, setId: string, m: string, sign: 1 | -1): void {
    const n = (set.members.get(m) ?? 0) + sign;
    if (n > 0) set.members.set(m, n);
    else set.members.delete(m);
    if (!set.sent) return;
    if (sign > 0 && n === 1) {
      if (!set.removed.delete(m)) set.added.add(m);
      this.dirtySets.add(setId);
    } else if (sign < 0 && n === 0) {
      if (!set.added.delete(m)) set.removed.add(m);
      this.dirtySets.add(setId);
    }
  }

  private refIpSet(spec: IpSetSpec): void {
    this.dirtySets.add(spec.id);
    const existing = this.ipSets.get(spec.id);
    if (existing) {
      existing.refs++;
      return;
    }
    const set: IpSetEntry = { spec, refs: 1, members: new Map(), sent: false, added: new Set(), removed: new Set() };
    this.ipSets.set(spec.id, set);
    const users = this.selectorUsers.get(spec.selector);
    if (users) {
      users.add(spec.id);
      // The selector is already indexed for another set: seed this one from its current matches.
      for (const h of this.ipSetIndex.matchesOfSelector(spec.selector)) {
        const holder = this.holders.get(h);
        if (!holder) continue;
        const members = spec.type === 'net' ? holder.nets : namedPortMembers(holder, spec.namedPort?.name ?? '', spec.namedPort?.protocol ?? 'any');
        for (const m of members) this.countMember(set, spec.id, m, 1);
      }
    } else {
      this.selectorUsers.set(spec.selector, new Set([spec.id]));
      this.ipSetIndex.setSelector(spec.selector, this.selector(spec.selector));
    }
  }

  /** Drops the oldest unreferenced sets beyond the warm limit, and their selectors once no set uses them. */
  private evictRetiredSets(): void {
    for (const id of this.retiredSets) {
      if (this.retiredSets.size <= RETIRED_SET_LIMIT) break;
      this.retiredSets.delete(id);
      const set = this.ipSets.get(id);
      if (!set || set.refs > 0) continue;
      this.ipSets.delete(id);
      const users = this.selectorUsers.get(set.spec.selector);
      users?.delete(id);
      if (users && users.size === 0) {
        this.selectorUsers.delete(set.spec.selector);
        this.ipSetIndex.deleteSelector(set.spec.selector);
      }
    }
  }

  private unrefIpSet(id: string): void {
    const set = this.ipSets.get(id);
    if (!set) return;
    set.refs--;
    this.dirtySets.add(id);
  }

  private selector(canonical: string): Selector {
    return parseSelector(canonical, { maxLength: Infinity });
  }

  // ------------------------------------------------------------------------------------------------
  // Routes and VTEPs

  private regroup(id: string, h: LabelHolder | undefined): void {
    const oldGroups = this.holderGroups.get(id);
    if (oldGroups) {
      for (const g of new Set(oldGroups.map((x) => x[1]))) {
        this.groupMembers.get(g)?.delete(id);
        if (this.groupMembers.get(g)?.size === 0) this.groupMembers.delete(g);
        this.dirtyGroups.add(g);
      }
      this.holderGroups.delete(id);
    }
    const oldNode = this.holderNode.get(id);
    if (oldNode !== undefined) {
      this.nodeHolders.get(oldNode)?.delete(id);
      if (this.nodeHolders.get(oldNode)?.size === 0) this.nodeHolders.delete(oldNode);
      this.holderNode.delete(id);
    }
    if (!h || h.role !== 'workload') return;
    const groups: Array<[string, string]> = [];
    for (const net of h.nets) {
      const g = routeGroupKey(net, this.poolList);
      groups.push([net, g]);
      const members = this.groupMembers.get(g) ?? new Set<string>();
      members.add(id);
      this.groupMembers.set(g, members);
      this.dirtyGroups.add(g);
    }
    this.holderGroups.set(id, groups);
    const onNode = this.nodeHolders.get(h.state.node) ?? new Set<string>();
    onNode.add(id);
    this.nodeHolders.set(h.state.node, onNode);
    this.holderNode.set(id, h.state.node);
  }

  private poolsChanged(): void {
    this.poolList = [...this.pools.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    for (const id of [...this.holderGroups.keys()]) this.regroup(id, this.holders.get(id));
  }

  private nodeChanged(name: string): void {
    this.dirtyVteps.add(name);
    if (name === this.hostname) {
      for (const g of this.groupMembers.keys()) this.dirtyGroups.add(g);
      for (const g of this.groupRoutes.keys()) this.dirtyGroups.add(g);
      return;
    }
    for (const id of this.nodeHolders.get(name) ?? []) {
      for (const [, g] of this.holderGroups.get(id) ?? []) this.dirtyGroups.add(g);
    }
  }

  // ------------------------------------------------------------------------------------------------
  // Output

  private endpointState(id: string, local: LocalEndpoint, h: LabelHolder): WorkloadEndpointState | HostEndpointState {
    const applicable: NormalizedPolicy[] = [];
    for (const pid of local.applicable) {
      const p = this.policies.get(pid);
      if (p && this.compiledPolicy(p)) applicable.push(p.norm);
    }
    if (h.role === 'workload') {
      const app = applicable.filter((p) => !p.doNotTrack && !p.preDNAT);
      return { ...h.state, tiers: buildTiers(enforcedView(app), this.tierOf), pendingTiers: buildTiers(pendingView(app, this.replaced), this.tierOf) };
    }
    if (h.role !== 'host') throw new Error(`calc graph: holder "${id}" is not an endpoint`);
    const normal = applicable.filter((p) => !p.doNotTrack && !p.preDNAT);
    return {
      ...h.state,
      tiers: buildTiers(enforcedView(normal), this.tierOf),
      untrackedTiers: buildTiers(enforcedView(applicable.filter((p) => p.doNotTrack)), this.tierOf),
      preDnatTiers: buildTiers(enforcedView(applicable.filter((p) => p.preDNAT)), this.tierOf),
      forwardTiers: buildTiers(enforcedView(normal.filter((p) => p.applyOnForward)), this.tierOf),
      pendingTiers: buildTiers(pendingView(normal, this.replaced), this.tierOf),
    };
  }

  private countRef(table: Map<string, number>, dirty: Set<string>, id: string, sign: 1 | -1): void {
    const n = (table.get(id) ?? 0) + sign;
    if (n > 0) table.set(id, n);
    else table.delete(id);
    if ((sign > 0 && n === 1) || (sign < 0 && n === 0)) dirty.add(id);
  }

  /** Computes everything the updates since the last flush changed; the messages come in dataplane order. */
  flush(): DataplaneMessage[] {
    // 1. Endpoints: tiers, and which policies and profiles they reference.
    const epUpdates: DataplaneMessage[] = [];
    const epRemoves: DataplaneMessage[] = [];
    for (const id of [...this.dirtyEndpoints].sort()) {
      const local = this.locals.get(id);
      if (!local) continue;
      const h = this.holders.get(id);
      const remove = () => {
        for (const p of local.policyRefs) this.countRef(this.policyRefs, this.dirtyPolicies, p, -1);
        for (const p of local.profileRefs) this.countRef(this.profileRefs, this.dirtyProfiles, p, -1);
        if (local.sentJson !== undefined) {
          epRemoves.push(id.startsWith('hep:') ? { type: 'HostEndpointRemove', id } : { type: 'WorkloadEndpointRemove', id });
        }
        this.locals.delete(id);
      };
      if (!h || !this.isLocal(h)) { remove(); continue; }
      const state = this.endpointState(id, local, h);
      const refs = new Set<string>();
      tierIds(state.tiers, refs);
      tierIds(state.pendingTiers, refs);
      if ('forwardTiers' in state) {
        tierIds(state.untrackedTiers, refs);
        tierIds(state.preDnatTiers, refs);
        tierIds(state.forwardTiers, refs);
      }
      for (const p of refs) if (!local.policyRefs.has(p)) this.countRef(this.policyRefs, this.dirtyPolicies, p, 1);
      for (const p of local.policyRefs) if (!refs.has(p)) this.countRef(this.policyRefs, this.dirtyPolicies, p, -1);
      local.policyRefs = refs;
      const profs = new Set(state.profileIds);
      for (const p of profs) if (!local.profileRefs.has(p)) this.countRef(this.profileRefs, this.dirtyProfiles, p, 1);
      for (const p of local.profileRefs) if (!profs.has(p)) this.countRef(this.profileRefs, this.dirtyProfiles, p, -1);
      local.profileRefs = profs;
      const json = JSON.stringify(state);
      if (json === local.sentJson) continue;
      local.sentJson = json;
      if (h.role === 'host') epUpdates.push({ type: 'HostEndpointUpdate', id, endpoint: state as HostEndpointState });
      else epUpdates.push({ type: 'WorkloadEndpointUpdate', id, endpoint: state as WorkloadEndpointState });
    }
    this.dirtyEndpoints.clear();

    // 2. Policies and profiles: activate, update or retire; reference their IP sets.
    const progUpdates: DataplaneMessage[] = [];
    const progRemoves: DataplaneMessage[] = [];
    const profileUpdates: DataplaneMessage[] = [];
    const profileRemoves: DataplaneMessage[] = [];
    for (const id of [...this.dirtyPolicies].sort()) {
      const entry = this.policies.get(id);
      const want = entry !== undefined && ((this.policyRefs.get(id) ?? 0) > 0 || entry.norm.neededEverywhere);
      this.syncProgram(id, want ? this.compiledPolicy(entry) : undefined, this.activePolicies, progUpdates, progRemoves,
        (program) => ({ type: 'ActivePolicyUpdate', id, policy: program as PolicyProgram }), { type: 'ActivePolicyRemove', id });
    }
    this.dirtyPolicies.clear();
    for (const id of [...this.dirtyProfiles].sort()) {
      let compiled: { program: ProfileProgram; ipSets: IpSetSpec[] } | undefined;
      if ((this.profileRefs.get(id) ?? 0) > 0) {
        const rules = profileRules(id, this);
        try {
          compiled = compileProfile(id, rules.ingress, rules.egress);
          this.problemsByKey.delete(`Profile//${id}`);
        } catch (err) {
          // A profile that cannot be compiled allows nothing.
          this.problemsByKey.set(`Profile//${id}`, (err as Error).message);
          compiled = compileProfile(id, [], []);
        }
      }
      this.syncProgram(id, compiled, this.activeProfiles, profileUpdates, profileRemoves,
        (program) => ({ type: 'ActiveProfileUpdate', id, profile: program as ProfileProgram }), { type: 'ActiveProfileRemove', id });
    }
    this.dirtyProfiles.clear();

    // 3. IP sets: new ones in full, existing ones as deltas, unreferenced ones removed (last).
    const setUpdates: DataplaneMessage[] = [];
    const setDeltas: DataplaneMessage[] = [];
    const setRemoves: DataplaneMessage[] = [];
    for (const id of [...this.dirtySets].sort()) {
      const set = this.ipSets.get(id);
      if (!set) continue;
      if (set.refs <= 0) {
        if (set.sent) setRemoves.push({ type: 'IpSetRemove', id });
        set.sent = false;
        set.added.clear();
        set.removed.clear();
        // Kept warm (members still tracked) in case a policy needs it again soon; oldest evicted first.
        this.retiredSets.delete(id);
        this.retiredSets.add(id);
        continue;
      }
      this.retiredSets.delete(id);
      if (!set.sent) {
        set.sent = true;
        set.added.clear();
        set.removed.clear();
        setUpdates.push({ type: 'IpSetUpdate', id, spec: set.spec, members: [...set.members.keys()].sort() });
      } else if (set.added.size > 0 || set.removed.size > 0) {
        setDeltas.push({ type: 'IpSetDeltaUpdate', id, added: [...set.added].sort(), removed: [...set.removed].sort() });
        set.added.clear();
        set.removed.clear();
      }
    }
    this.dirtySets.clear();
    this.evictRetiredSets();

    const out: DataplaneMessage[] = [
      ...setUpdates, ...setDeltas, ...profileUpdates, ...progUpdates, ...epUpdates,
      ...epRemoves, ...progRemoves, ...profileRemoves, ...setRemoves,
    ];
    this.flushRoutes(out);
    this.flushVteps(out);
    if (this.inSyncSeen && !this.inSyncSent) {
      this.inSyncSent = true;
      out.push({ type: 'InSync' });
    }
    return out;
  }

  private syncProgram(
    id: string,
    compiled: { program: PolicyProgram | ProfileProgram; ipSets: IpSetSpec[] } | undefined,
    active: Map<string, ActiveProgram>,
    updates: DataplaneMessage[],
    removes: DataplaneMessage[],
    update: (program: PolicyProgram | ProfileProgram) => DataplaneMessage,
    removal: DataplaneMessage,
  ): void {
    const cur = active.get(id);
    if (compiled) {
      const json = JSON.stringify(compiled.program);
      if (cur && cur.json === json) return;
      // Reference the new sets before releasing the old, so a set both use never flaps.
      for (const s of compiled.ipSets) this.refIpSet(s);
      if (cur) for (const s of cur.ipSets) this.unrefIpSet(s);
      active.set(id, { json, ipSets: compiled.ipSets.map((s) => s.id) });
      updates.push(update(compiled.program));
    } else if (cur) {
      for (const s of cur.ipSets) this.unrefIpSet(s);
      active.delete(id);
      removes.push(removal);
    }
  }

  private flushRoutes(out: DataplaneMessage[]): void {
    if (this.dirtyGroups.size === 0) return;
    const ctx: RouteContext = { hostname: this.hostname, node: (n) => this.nodes.get(n), pools: this.poolList };
    const desired = new Map<string, string>();
    const routes = new Map<string, DataplaneMessage>();
    const previously = new Set<string>();
    for (const g of this.dirtyGroups) {
      for (const dst of this.groupRoutes.get(g) ?? []) previously.add(dst);
      const workloads: RouteWorkload[] = [];
      for (const id of this.groupMembers.get(g) ?? []) {
        const h = this.holders.get(id);
        const groups = this.holderGroups.get(id);
        if (!h || h.role !== 'workload' || !groups) continue;
        for (const [net, group] of groups) {
          if (group !== g) continue;
          workloads.push({ endpointId: id, node: h.state.node, net, ...(h.state.interfaceName ? { interfaceName: h.state.interfaceName } : {}) });
        }
      }
      const list = workloads.length > 0 ? routesForGroup(g, workloads, ctx) : [];
      if (list.length > 0) this.groupRoutes.set(g, new Set(list.map((r) => r.dst)));
      else this.groupRoutes.delete(g);
      for (const r of list) {
        desired.set(r.dst, JSON.stringify(r));
        routes.set(r.dst, { type: 'RouteUpdate', route: r });
      }
    }
    this.dirtyGroups.clear();
    const updates: DataplaneMessage[] = [];
    const removes: DataplaneMessage[] = [];
    for (const dst of [...previously].sort()) {
      if (desired.has(dst)) continue;
      if (this.sentRoutes.delete(dst)) removes.push({ type: 'RouteRemove', dst });
    }
    for (const dst of [...desired.keys()].sort()) {
      const json = desired.get(dst) as string;
      if (this.sentRoutes.get(dst) === json) continue;
      this.sentRoutes.set(dst, json);
      updates.push(routes.get(dst) as DataplaneMessage);
    }
    out.push(...removes, ...updates);
  }

  private flushVteps(out: DataplaneMessage[]): void {
    for (const name of [...this.dirtyVteps].sort()) {
      const node = this.nodes.get(name);
      const vtep = node ? vtepFor(node) : undefined;
      const json = vtep ? JSON.stringify(vtep) : undefined;
      const sent = this.sentVteps.get(name);
      if (json === sent) continue;
      if (vtep && json) {
        this.sentVteps.set(name, json);
        out.push({ type: 'VxlanTunnelEndpointUpdate', vtep });
      } else {
        this.sentVteps.delete(name);
        out.push({ type: 'VxlanTunnelEndpointRemove', node: name });
      }
    }
    this.dirtyVteps.clear();
  }
}

/** Identity of a resource as the graph keys it: `Kind/namespace/name` (namespace empty for cluster kinds). */
export function resourceIdentity(r: AnyResource): string {
  return resourceKey(r.kind, r.metadata?.namespace, r.metadata?.name);
}

/**
 * The updates that turn datastore state `from` into `to`: deletes for what vanished, then puts for what is
 * new or changed (in `to`'s order). A resync after a lost watch, or a test stepping between states, uses it.
 */
export function diffResources(from: readonly AnyResource[], to: readonly AnyResource[]): DatastoreUpdate[] {
  const before = new Map(from.map((r) => [resourceIdentity(r), r]));
  const after = new Map(to.map((r) => [resourceIdentity(r), r]));
  const out: DatastoreUpdate[] = [];
  for (const [key, r] of before) {
    if (!after.has(key)) out.push({ type: 'delete', kind: r.kind, ...(r.metadata.namespace !== undefined ? { namespace: r.metadata.namespace } : {}), name: r.metadata.name });
  }
  for (const [key, r] of after) {
    const old = before.get(key);
    if (!old || fingerprint(old) !== fingerprint(r)) out.push({ type: 'put', resource: r });
  }
  return out;
}
