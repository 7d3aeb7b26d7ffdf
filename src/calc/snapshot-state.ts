// One host's desired state computed from scratch from a list of resources, with no incremental machinery:
// every selector is evaluated against every holder. It is the oracle the incremental calc graph is tested
// against, and what the policy trace and the simulated conformance runner evaluate on ('*' = every
// endpoint counts as local, so one state answers for the whole cluster).

import { parseSelector } from '../model/index.ts';
import type { AnyResource, IPPool, Labels, Node, Profile, TierSpec } from '../model/index.ts';
import type { DataplaneMessage, HostEndpointState, IpSetSpec, Route, TierPolicies, WorkloadEndpointState } from '../dataplane-api/index.ts';
import {
  effectiveLabels, hostFromHep, namedPortMembers, networkSetHolder, workloadFromPod, workloadFromWep,
} from './endpoints.ts';
import type { HostHolder, LabelHolder, WorkloadHolder } from './endpoints.ts';
import { isPolicyKind, normalizePolicy } from './policy-model.ts';
import type { NormalizedPolicy } from './policy-model.ts';
import { compilePolicy, compileProfile } from './policy-programs.ts';
import type { CompiledPolicy } from './policy-programs.ts';
import { profileLabels, profileRules } from './profiles.ts';
import type { ProfileInputs } from './profiles.ts';
import { routeGroupKey, routesForGroup, routeWorkloads, vtepFor } from './routes.ts';
import type { RouteContext, RouteWorkload } from './routes.ts';
import { buildTiers, enforcedView, pendingView, stagedTargetsCounterpart, tierInfo } from './tier-order.ts';

export interface SnapshotOptions {
  /** The host whose state is computed; '*' = all endpoints are local. */
  hostname: string;
}

export interface SnapshotProblem {
  resource: string;
  message: string;
}

/** The resources of a store, indexed the way every computation here needs them. */
export class ResourceIndex implements ProfileInputs {
  readonly namespaces = new Map<string, Labels>();
  readonly serviceAccounts = new Map<string, Labels>();
  readonly profiles = new Map<string, Profile>();
  readonly tiers = new Map<string, TierSpec>();
  readonly policies: NormalizedPolicy[] = [];
  readonly workloads: WorkloadHolder[] = [];
  readonly hosts: HostHolder[] = [];
  readonly holders: LabelHolder[] = [];
  readonly nodes = new Map<string, Node>();
  readonly pools: IPPool[] = [];
  readonly problems: SnapshotProblem[] = [];
  private readonly labelCache = new Map<string, Labels>();

  constructor(resources: readonly AnyResource[]) {
    const pods: WorkloadHolder[] = [];
    const wepPods = new Set<string>();
    for (const r of resources) {
      const where = `${r.kind} ${r.metadata?.namespace ? `${r.metadata.namespace}/` : ''}${r.metadata?.name}`;
      try {
        this.add(r, pods, wepPods);
      } catch (err) {
        this.problems.push({ resource: where, message: (err as Error).message });
      }
    }
    // A WorkloadEndpoint for a pod takes precedence over the Pod itself.
    for (const p of pods) if (!wepPods.has(p.podKey as string)) this.workloads.push(p);
    this.holders.push(...this.workloads);
    this.workloads.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  private add(r: AnyResource, pods: WorkloadHolder[], wepPods: Set<string>): void {
    switch (r.kind) {
      case 'Namespace': this.namespaces.set(r.metadata.name, r.metadata.labels ?? {}); return;
      case 'ServiceAccount': this.serviceAccounts.set(`${r.metadata.namespace || 'default'}/${r.metadata.name}`, r.metadata.labels ?? {}); return;
      case 'Profile': this.profiles.set(r.metadata.name, r); return;
      case 'Tier': this.tiers.set(r.metadata.name, r.spec ?? {}); return;
      case 'Node': this.nodes.set(r.metadata.name, r); return;
      // Disabled pools still hold allocated blocks, so they still shape routes.
      case 'IPPool': this.pools.push(r); return;
      case 'WorkloadEndpoint': {
        const w = workloadFromWep(r);
        if (w.podKey) wepPods.add(w.podKey);
        this.workloads.push(w);
        return;
      }
      case 'Pod': pods.push(workloadFromPod(r)); return;
      case 'HostEndpoint': { const h = hostFromHep(r); this.hosts.push(h); this.holders.push(h); return; }
      case 'NetworkSet': case 'GlobalNetworkSet': this.holders.push(networkSetHolder(r)); return;
      default:
        if (isPolicyKind(r.kind)) this.policies.push(normalizePolicy(r));
    }
  }

  namespaceLabels(ns: string): Labels | undefined {
    return this.namespaces.get(ns);
  }

  serviceAccountLabels(ns: string, sa: string): Labels | undefined {
    return this.serviceAccounts.get(`${ns}/${sa}`);
  }

  profile(name: string): Profile | undefined {
    return this.profiles.get(name);
  }

  labelsOf(h: LabelHolder): Labels {
    let l = this.labelCache.get(h.id);
    if (!l) {
      l = effectiveLabels(h, (id) => profileLabels(id, this));
      this.labelCache.set(h.id, l);
    }
    return l;
  }
}

function sortById<T extends { id: string }>(list: T[]): T[] {
  return list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export interface SnapshotResult {
  messages: DataplaneMessage[];
  index: ResourceIndex;
  problems: SnapshotProblem[];
}

/** Members of one IP set over all holders. */
export function ipSetMembers(spec: IpSetSpec, index: ResourceIndex, selectorOf: (canonical: string) => (l: Labels) => boolean): string[] {
  const matches = selectorOf(spec.selector);
  const out = new Set<string>();
  for (const h of index.holders) {
    if (!matches(index.labelsOf(h))) continue;
    if (spec.type === 'net') for (const n of h.nets) out.add(n);
    else if (spec.namedPort) for (const m of namedPortMembers(h, spec.namedPort.name, spec.namedPort.protocol)) out.add(m);
  }
  return [...out].sort();
}

export function computeSnapshot(resources: readonly AnyResource[], options: SnapshotOptions): SnapshotResult {
  const index = new ResourceIndex(resources);
  const local = (node: string): boolean => options.hostname === '*' || node === options.hostname;
  const tierOf = (name: string) => tierInfo(name, index.tiers.get(name));
  const replaced = new Set(index.policies.filter(stagedTargetsCounterpart).map((p) => p.counterpartId as string));
  const isReplaced = (id: string) => replaced.has(id);

  const compiled = new Map<string, CompiledPolicy>();
  const problems = [...index.problems];
  const validPolicies: NormalizedPolicy[] = [];
  for (const p of index.policies) {
    try {
      compiled.set(p.id, compilePolicy(p));
      validPolicies.push(p);
    } catch (err) {
      problems.push({ resource: p.id, message: (err as Error).message });
    }
  }

  const activePolicies = new Set<string>(validPolicies.filter((p) => p.neededEverywhere).map((p) => p.id));
  const activeProfiles = new Set<string>();
  const weps: WorkloadEndpointState[] = [];
  const heps: HostEndpointState[] = [];
  const noteTiers = (tiers: TierPolicies[]) => {
    for (const t of tiers) for (const id of [...t.ingress, ...t.egress]) activePolicies.add(id);
  };

  for (const w of index.workloads) {
    if (!local(w.state.node)) continue;
    const labels = index.labelsOf(w);
    const applicable = validPolicies.filter((p) => !p.doNotTrack && !p.preDNAT && p.selector.evaluate(labels));
    const tiers = buildTiers(enforcedView(applicable), tierOf);
    const pendingTiers = buildTiers(pendingView(applicable, isReplaced), tierOf);
    noteTiers(tiers);
    noteTiers(pendingTiers);
    for (const id of w.state.profileIds) activeProfiles.add(id);
    weps.push({ ...w.state, tiers, pendingTiers });
  }
  for (const h of index.hosts) {
    if (!local(h.state.node)) continue;
    const labels = index.labelsOf(h);
    const applicable = validPolicies.filter((p) => p.selector.evaluate(labels));
    const normal = applicable.filter((p) => !p.doNotTrack && !p.preDNAT);
    const state: HostEndpointState = {
      ...h.state,
      tiers: buildTiers(enforcedView(normal), tierOf),
      untrackedTiers: buildTiers(enforcedView(applicable.filter((p) => p.doNotTrack)), tierOf),
      preDnatTiers: buildTiers(enforcedView(applicable.filter((p) => p.preDNAT)), tierOf),
      forwardTiers: buildTiers(enforcedView(normal.filter((p) => p.applyOnForward)), tierOf),
      pendingTiers: buildTiers(pendingView(normal, isReplaced), tierOf),
    };
    for (const t of [state.tiers, state.untrackedTiers, state.preDnatTiers, state.forwardTiers, state.pendingTiers]) noteTiers(t);
    for (const id of h.state.profileIds) activeProfiles.add(id);
    heps.push(state);
  }

  const ipSets = new Map<string, IpSetSpec>();
  const policyMsgs: DataplaneMessage[] = [];
  for (const id of [...activePolicies].sort()) {
    const c = compiled.get(id);
    if (!c) continue;
    for (const s of c.ipSets) ipSets.set(s.id, s);
    policyMsgs.push({ type: 'ActivePolicyUpdate', id, policy: c.program });
  }
  const profileMsgs: DataplaneMessage[] = [];
  for (const id of [...activeProfiles].sort()) {
    const rules = profileRules(id, index);
    let prog;
    try {
      prog = compileProfile(id, rules.ingress, rules.egress);
    } catch (err) {
      problems.push({ resource: `Profile ${id}`, message: (err as Error).message });
      prog = compileProfile(id, [], []);
    }
    for (const s of prog.ipSets) ipSets.set(s.id, s);
    profileMsgs.push({ type: 'ActiveProfileUpdate', id, profile: prog.program });
  }

  const selectorOf = (canonical: string) => parseSelector(canonical, { maxLength: Infinity }).evaluate;

  const messages: DataplaneMessage[] = [];
  for (const id of [...ipSets.keys()].sort()) {
    const spec = ipSets.get(id) as IpSetSpec;
    messages.push({ type: 'IpSetUpdate', id, spec, members: ipSetMembers(spec, index, selectorOf) });
  }
  messages.push(...profileMsgs, ...policyMsgs);
  for (const w of sortById(weps)) messages.push({ type: 'WorkloadEndpointUpdate', id: w.id, endpoint: w });
  for (const h of sortById(heps)) messages.push({ type: 'HostEndpointUpdate', id: h.id, endpoint: h });

  const ctx: RouteContext = { hostname: options.hostname, node: (n) => index.nodes.get(n), pools: index.pools };
  const groups = new Map<string, RouteWorkload[]>();
  for (const w of index.workloads) {
    for (const rw of routeWorkloads({ id: w.id, node: w.state.node, nets: w.nets, interfaceName: w.state.interfaceName })) {
      const key = routeGroupKey(rw.net, index.pools);
      const list = groups.get(key);
      if (list) list.push(rw);
      else groups.set(key, [rw]);
    }
  }
  const routes: Route[] = [];
  for (const [key, list] of groups) routes.push(...routesForGroup(key, list, ctx));
  routes.sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
  for (const r of routes) messages.push({ type: 'RouteUpdate', route: r });
  for (const name of [...index.nodes.keys()].sort()) {
    const v = vtepFor(index.nodes.get(name) as Node);
    if (v) messages.push({ type: 'VxlanTunnelEndpointUpdate', vtep: v });
  }
  return { messages, index, problems };
}
