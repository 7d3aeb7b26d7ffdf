// The dataplane's view of the calc graph's output: applies DataplaneMessages to in-memory tables and
// checks the protocol as it goes (sets exist before policies use them, policies before endpoints, deltas
// only add what is absent and remove what is present). Tests compare these tables against expectations,
// the reference evaluator walks them, and dataplane managers can use them as their desired state.

import type {
  DataplaneMessage, HostEndpointState, IpSetSpec, PolicyProgram, ProfileProgram, Route, RuleProgram,
  TierPolicies, VxlanTunnelEndpoint, WorkloadEndpointState,
} from './messages.ts';
import type { IpSetLookup, ProgramLookup } from './policy-walk.ts';
import { NetMembership } from './policy-walk.ts';

export interface IpSetState {
  spec: IpSetSpec;
  members: Set<string>;
}

/** Plain, sorted form of the whole state, for deep-equal comparisons. */
export interface DesiredStateSnapshot {
  inSync: boolean;
  ipSets: Record<string, { spec: IpSetSpec; members: string[] }>;
  policies: Record<string, PolicyProgram>;
  profiles: Record<string, ProfileProgram>;
  workloadEndpoints: Record<string, WorkloadEndpointState>;
  hostEndpoints: Record<string, HostEndpointState>;
  routes: Record<string, Route>;
  vteps: Record<string, VxlanTunnelEndpoint>;
}

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function ruleSets(rules: RuleProgram[]): string[] {
  const out: string[] = [];
  for (const r of rules) {
    for (const m of [r.src, r.dst]) {
      out.push(...(m.ipSets ?? []), ...(m.notIpSets ?? []), ...(m.namedPortIpSets ?? []), ...(m.notNamedPortIpSets ?? []));
    }
  }
  return out;
}

function tierPolicyIds(tiers: TierPolicies[]): string[] {
  return tiers.flatMap((t) => [...t.ingress, ...t.egress]);
}

function sortedRecord<T>(m: Map<string, T>, map: (v: T) => unknown = (v) => v): Record<string, never> {
  const out: Record<string, unknown> = {};
  for (const k of [...m.keys()].sort()) out[k] = map(m.get(k) as T);
  return out as Record<string, never>;
}

export class DesiredState implements IpSetLookup, ProgramLookup {
  readonly ipSets = new Map<string, IpSetState>();
  readonly policies = new Map<string, PolicyProgram>();
  readonly profiles = new Map<string, ProfileProgram>();
  readonly workloadEndpoints = new Map<string, WorkloadEndpointState>();
  readonly hostEndpoints = new Map<string, HostEndpointState>();
  readonly routes = new Map<string, Route>();
  readonly vteps = new Map<string, VxlanTunnelEndpoint>();
  inSync = false;
  /** When true (the default), protocol violations throw ProtocolError. */
  readonly strict: boolean;
  private readonly netIndex = new Map<string, NetMembership>();

  constructor(options: { strict?: boolean } = {}) {
    this.strict = options.strict ?? true;
  }

  private violation(message: string): void {
    if (this.strict) throw new ProtocolError(message);
  }

  applyAll(messages: Iterable<DataplaneMessage>): void {
    for (const m of messages) this.apply(m);
  }

  apply(msg: DataplaneMessage): void {
    switch (msg.type) {
      case 'InSync':
        this.inSync = true;
        return;
      case 'IpSetUpdate':
        this.ipSets.set(msg.id, { spec: msg.spec, members: new Set(msg.members) });
        this.netIndex.delete(msg.id);
        return;
      case 'IpSetDeltaUpdate': {
        const set = this.ipSets.get(msg.id);
        if (!set) { this.violation(`IpSetDeltaUpdate for unknown IP set "${msg.id}"`); return; }
        for (const m of msg.removed) {
          if (!set.members.delete(m)) this.violation(`IpSetDeltaUpdate removes "${m}", not a member of "${msg.id}"`);
        }
        for (const m of msg.added) {
          if (set.members.has(m)) this.violation(`IpSetDeltaUpdate adds "${m}", already a member of "${msg.id}"`);
          set.members.add(m);
        }
        this.netIndex.delete(msg.id);
        return;
      }
      case 'IpSetRemove': {
        if (!this.ipSets.has(msg.id)) this.violation(`IpSetRemove for unknown IP set "${msg.id}"`);
        for (const p of this.policies.values()) {
          if (ruleSets([...p.ingress, ...p.egress]).includes(msg.id)) {
            this.violation(`IpSetRemove of "${msg.id}" while policy "${p.id}" still uses it`);
          }
        }
        this.ipSets.delete(msg.id);
        this.netIndex.delete(msg.id);
        return;
      }
      case 'ActivePolicyUpdate':
      case 'ActiveProfileUpdate': {
        const prog = msg.type === 'ActivePolicyUpdate' ? msg.policy : msg.profile;
        for (const id of ruleSets([...prog.ingress, ...prog.egress])) {
          if (!this.ipSets.has(id)) this.violation(`${msg.type} "${msg.id}" uses IP set "${id}" before it was sent`);
        }
        if (msg.type === 'ActivePolicyUpdate') this.policies.set(msg.id, msg.policy);
        else this.profiles.set(msg.id, msg.profile);
        return;
      }
      case 'ActivePolicyRemove':
      case 'ActiveProfileRemove': {
        const table = msg.type === 'ActivePolicyRemove' ? this.policies : this.profiles;
        if (!table.has(msg.id)) this.violation(`${msg.type} for unknown id "${msg.id}"`);
        for (const ep of [...this.workloadEndpoints.values(), ...this.hostEndpoints.values()]) {
          const used = msg.type === 'ActivePolicyRemove' ? this.endpointPolicyIds(ep) : ep.profileIds;
          if (used.includes(msg.id)) this.violation(`${msg.type} of "${msg.id}" while endpoint "${ep.id}" still uses it`);
        }
        table.delete(msg.id);
        return;
      }
      case 'WorkloadEndpointUpdate':
      case 'HostEndpointUpdate': {
        const ep = msg.endpoint;
        for (const id of this.endpointPolicyIds(ep)) {
          if (!this.policies.has(id)) this.violation(`${msg.type} "${msg.id}" uses policy "${id}" before it was sent`);
        }
        for (const id of ep.profileIds) {
          if (!this.profiles.has(id)) this.violation(`${msg.type} "${msg.id}" uses profile "${id}" before it was sent`);
        }
        if (msg.type === 'WorkloadEndpointUpdate') this.workloadEndpoints.set(msg.id, msg.endpoint);
        else this.hostEndpoints.set(msg.id, msg.endpoint);
        return;
      }
      case 'WorkloadEndpointRemove':
        if (!this.workloadEndpoints.delete(msg.id)) this.violation(`WorkloadEndpointRemove for unknown endpoint "${msg.id}"`);
        return;
      case 'HostEndpointRemove':
        if (!this.hostEndpoints.delete(msg.id)) this.violation(`HostEndpointRemove for unknown endpoint "${msg.id}"`);
        return;
      case 'RouteUpdate':
        this.routes.set(msg.route.dst, msg.route);
        return;
      case 'RouteRemove':
        if (!this.routes.delete(msg.dst)) this.violation(`RouteRemove for unknown route "${msg.dst}"`);
        return;
      case 'VxlanTunnelEndpointUpdate':
        this.vteps.set(msg.vtep.node, msg.vtep);
        return;
      case 'VxlanTunnelEndpointRemove':
        if (!this.vteps.delete(msg.node)) this.violation(`VxlanTunnelEndpointRemove for unknown node "${msg.node}"`);
        return;
    }
  }

  private endpointPolicyIds(ep: WorkloadEndpointState | HostEndpointState): string[] {
    const ids = [...tierPolicyIds(ep.tiers), ...tierPolicyIds(ep.pendingTiers)];
    if ('forwardTiers' in ep) {
      ids.push(...tierPolicyIds(ep.untrackedTiers), ...tierPolicyIds(ep.preDnatTiers), ...tierPolicyIds(ep.forwardTiers));
    }
    return ids;
  }

  policy(id: string): PolicyProgram | undefined {
    return this.policies.get(id);
  }

  profile(id: string): ProfileProgram | undefined {
    return this.profiles.get(id);
  }

  /** IpSetLookup: is (ip, protocol, port) in the set? Unknown sets contain nothing. */
  ipSetContains(id: string, ip: string, protocol: number, port: number | undefined): boolean {
    const set = this.ipSets.get(id);
    if (!set) return false;
    if (set.spec.type === 'ip-and-port') {
      return port !== undefined && set.members.has(NetMembership.ipPortMember(ip, protocol, port));
    }
    let idx = this.netIndex.get(id);
    if (!idx) {
      idx = new NetMembership(set.members);
      this.netIndex.set(id, idx);
    }
    return idx.contains(ip);
  }

  snapshot(): DesiredStateSnapshot {
    return {
      inSync: this.inSync,
      ipSets: sortedRecord(this.ipSets, (s) => ({ spec: s.spec, members: [...s.members].sort() })),
      policies: sortedRecord(this.policies),
      profiles: sortedRecord(this.profiles),
      workloadEndpoints: sortedRecord(this.workloadEndpoints),
      hostEndpoints: sortedRecord(this.hostEndpoints),
      routes: sortedRecord(this.routes),
      vteps: sortedRecord(this.vteps),
    };
  }
}
