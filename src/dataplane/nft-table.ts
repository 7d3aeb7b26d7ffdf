// The nftables manager: takes dataplane messages, keeps the desired state, and re-renders only what
// they touched into the NftModel (whose journal then yields one small transaction). No I/O here.
//
//   messages ──apply()──► DesiredState + dirty ids ──render()──► NftModel.set*() ──takeChange()──► script
//
// Awkward cases handled: two endpoints claiming one interface (the smallest id owns it, the other takes
// over when the owner goes); a policy or profile an endpoint names but that is not (yet) known (a drop,
// or a skipped profile, as the walk does, re-rendered when it arrives); an IP set gaining or losing its
// first network member (policies using it start or stop consulting its interval set); endpoints without
// an interface (simulation-only pods) are ignored; protocol violations are tolerated, not thrown.

import {
  NFT_SETS, nftHostEndpointChain, nftIpSetName, nftPolicyChain as nftPolicyChainName, nftProfileChain as nftProfileChainName,
  tryParseCidr,
} from '../lib/index.ts';
import type {
  DataplaneMessage, Direction, HostEndpointState, IpSetSpec, RuleProgram, WorkloadEndpointState,
} from '../dataplane-api/index.ts';
import { DesiredState } from '../dataplane-api/index.ts';
import { coverNets, hostElement, partitionMembers, portElement } from './nft-elements.ts';
import type { Family } from './nft-elements.ts';
import { NftModel } from './nft-model.ts';
import type { NftChain, NftSetDecl } from './nft-model.ts';
import {
  baseChains, defaultRenderOptions, fixedDecls, hostEndpointChains, policyChain, profileChain, workloadChains,
} from './nft-render.ts';
import type { EndpointRenderContext, NftRenderOptions, WildcardHostEndpoint } from './nft-render.ts';
import type { IpSetPart, RuleRenderContext } from './nft-rules.ts';
import type { DriverMessage, IpPoolInfo } from './host-messages.ts';

const FAMILIES: Family[] = [4, 6];

function partDecl(name: string, part: IpSetPart, family: Family): NftSetDecl {
  const addr = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
  if (part === 'ports') return { name, kind: 'set', type: `${addr} . inet_proto . inet_service`, flags: [] };
  return { name, kind: 'set', type: addr, flags: part === 'nets' ? ['interval'] : [] };
}

interface Owned {
  chains: string[];
  mapElements: Array<[string, string]>;
}

function setIdsOf(rules: RuleProgram[]): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    for (const m of [r.src, r.dst]) {
      for (const l of [m.ipSets, m.notIpSets, m.namedPortIpSets, m.notNamedPortIpSets]) for (const id of l ?? []) out.add(id);
    }
  }
  return [...out];
}

function endpointPolicyIds(ep: WorkloadEndpointState | HostEndpointState): string[] {
  const tiers = 'forwardTiers' in ep ? [...ep.tiers, ...ep.untrackedTiers, ...ep.preDnatTiers, ...ep.forwardTiers] : ep.tiers;
  return [...new Set(tiers.flatMap((t) => [...t.ingress, ...t.egress]))];
}

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let s = m.get(k);
  if (!s) {
    s = new Set();
    m.set(k, s);
  }
  s.add(v);
}

function removeFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}

export class NftTableManager implements RuleRenderContext, EndpointRenderContext {
  readonly state = new DesiredState({ strict: false });
  readonly model = new NftModel();
  readonly options: NftRenderOptions;
  readonly pools = new Map<string, IpPoolInfo>();
  inSync = false;

  private readonly dirtySets = new Set<string>();
  private readonly dirtyPolicies = new Set<string>();
  private readonly dirtyProfiles = new Set<string>();
  private readonly dirtyWorkloadIfaces = new Set<string>();
  private readonly dirtyHostIfaces = new Set<string>();
  private dirtyPools = false;
  private dirtyVteps = false;
  private dirtyBase = true;

  // Interface ownership.
  private readonly workloadIface = new Map<string, string>();
  private readonly workloadsByIface = new Map<string, Set<string>>();
  private readonly hostIface = new Map<string, string>();
  private readonly hostsByIface = new Map<string, Set<string>>();
  // What each rendered object produced, and reverse references for re-rendering.
  private readonly ownedByWorkloadIface = new Map<string, Owned>();
  private readonly ownedByHostIface = new Map<string, Owned>();
  private readonly programSets = new Map<string, string[]>(); // 'pol:ID' | 'pro:ID' → set ids
  private readonly setUsers = new Map<string, Set<string>>(); // set id → 'pol:ID' | 'pro:ID'
  private readonly policyUsers = new Map<string, Set<string>>(); // policy id → 'wl:IFACE' | 'hep:IFACE'
  private readonly profileUsers = new Map<string, Set<string>>();
  private readonly endpointRefs = new Map<string, { policies: string[]; profiles: string[] }>(); // 'wl:IFACE' → refs
  // Network members of each net IP set (hosts go straight to the hash sets).
  private readonly setNetMembers = new Map<string, Set<string>>();
  private readonly renderedSetType = new Map<string, IpSetSpec['type']>();
  private wildcard: WildcardHostEndpoint = {};

  constructor(options: Partial<NftRenderOptions> = {}) {
    this.options = { ...defaultRenderOptions(), ...options };
  }

  // --- RuleRenderContext / EndpointRenderContext --------------------------------------------------

  get nflogGroup(): number | undefined {
    return this.options.nflogGroup;
  }

  ipSetType(id: string): IpSetSpec['type'] | undefined {
    return this.state.ipSets.get(id)?.spec.type;
  }

  ipSetHasMembers(id: string, part: IpSetPart, family: Family): boolean {
    return (this.model.elements.get(nftIpSetName(id, part, family))?.size ?? 0) > 0;
  }

  hasPolicy(id: string): boolean {
    return this.state.policies.has(id);
  }

  hasProfile(id: string): boolean {
    return this.state.profiles.has(id);
  }

  hasPolicyRules(id: string, direction: Direction): boolean {
    return this.model.chains.has(nftPolicyChainName(id, direction));
  }

  hasProfileRules(id: string, direction: Direction): boolean {
    return this.model.chains.has(nftProfileChainName(id, direction));
  }

  // --- messages -------------------------------------------------------------------------------

  applyAll(messages: Iterable<DriverMessage>): void {
    for (const m of messages) this.apply(m);
  }

  apply(msg: DriverMessage): void {
    switch (msg.type) {
      case 'InSync':
        this.inSync = true;
        return;
      case 'IpPoolUpdate':
        this.pools.set(msg.id, msg.pool);
        this.dirtyPools = true;
        return;
      case 'IpPoolRemove':
        this.pools.delete(msg.id);
        this.dirtyPools = true;
        return;
      case 'LocalBlockUpdate':
      case 'LocalBlockRemove':
      case 'RouteUpdate':
      case 'RouteRemove':
        return;
      case 'IpSetUpdate':
        this.applyIpSetUpdate(msg);
        return;
      case 'IpSetDeltaUpdate':
        this.applyIpSetDelta(msg.id, msg.added, msg.removed);
        return;
      case 'IpSetRemove':
        this.state.apply(msg);
        this.dirtySets.add(msg.id);
        return;
      case 'ActivePolicyUpdate':
      case 'ActivePolicyRemove': {
        const existed = this.state.policies.has(msg.id);
        this.state.apply(msg);
        this.dirtyPolicies.add(msg.id);
        if (existed !== this.state.policies.has(msg.id)) this.markUsers(this.policyUsers.get(msg.id));
        return;
      }
      case 'ActiveProfileUpdate':
      case 'ActiveProfileRemove': {
        const existed = this.state.profiles.has(msg.id);
        this.state.apply(msg);
        this.dirtyProfiles.add(msg.id);
        if (existed !== this.state.profiles.has(msg.id)) this.markUsers(this.profileUsers.get(msg.id));
        return;
      }
      case 'WorkloadEndpointUpdate':
      case 'WorkloadEndpointRemove': {
        this.state.apply(msg);
        const old = this.workloadIface.get(msg.id);
        if (old !== undefined) {
          removeFrom(this.workloadsByIface, old, msg.id);
          this.workloadIface.delete(msg.id);
          this.dirtyWorkloadIfaces.add(old);
        }
        const iface = msg.type === 'WorkloadEndpointUpdate' ? msg.endpoint.interfaceName : undefined;
        if (iface) {
          this.workloadIface.set(msg.id, iface);
          addTo(this.workloadsByIface, iface, msg.id);
          this.dirtyWorkloadIfaces.add(iface);
        }
        return;
      }
      case 'HostEndpointUpdate':
      case 'HostEndpointRemove': {
        this.state.apply(msg);
        const old = this.hostIface.get(msg.id);
        if (old !== undefined) {
          removeFrom(this.hostsByIface, old, msg.id);
          this.hostIface.delete(msg.id);
          this.dirtyHostIfaces.add(old);
        }
        const iface = msg.type === 'HostEndpointUpdate' ? msg.endpoint.interfaceName : undefined;
        if (iface) {
          this.hostIface.set(msg.id, iface);
          addTo(this.hostsByIface, iface, msg.id);
          this.dirtyHostIfaces.add(iface);
        }
        return;
      }
      case 'VxlanTunnelEndpointUpdate':
      case 'VxlanTunnelEndpointRemove':
        this.state.apply(msg);
        this.dirtyVteps = true;
        return;
    }
  }

  private markUsers(users: Set<string> | undefined): void {
    for (const u of users ?? []) {
      if (u.startsWith('wl:')) this.dirtyWorkloadIfaces.add(u.slice(3));
      else if (u.startsWith('hep:')) this.dirtyHostIfaces.add(u.slice(4));
      else if (u.startsWith('pol:')) this.dirtyPolicies.add(u.slice(4));
      else if (u.startsWith('pro:')) this.dirtyProfiles.add(u.slice(4));
    }
  }

  private applyIpSetUpdate(msg: Extract<DataplaneMessage, { type: 'IpSetUpdate' }>): void {
    this.state.apply(msg);
    this.dirtySets.add(msg.id);
  }

  /** Deltas of host members go straight to the hash set: no pass over the other members. */
  private applyIpSetDelta(id: string, added: string[], removed: string[]): void {
    const set = this.state.ipSets.get(id);
    if (!set) return;
    this.state.apply({ type: 'IpSetDeltaUpdate', id, added, removed });
    if (this.dirtySets.has(id) || this.renderedSetType.get(id) !== set.spec.type) {
      this.dirtySets.add(id);
      return;
    }
    const edits = new Map<string, { part: IpSetPart; family: Family; add: string[]; remove: string[] }>();
    const edit = (part: IpSetPart, family: Family): { add: string[]; remove: string[] } => {
      const k = `${part}${family}`;
      let e = edits.get(k);
      if (!e) {
        e = { part, family, add: [], remove: [] };
        edits.set(k, e);
      }
      return e;
    };
    let netsChanged = false;
    const nets = this.setNetMembers.get(id) ?? new Set<string>();
    const take = (m: string, add: boolean): void => {
      if (set.spec.type === 'ip-and-port') {
        const e = portElement(m);
        if (e) edit('ports', e.family)[add ? 'add' : 'remove'].push(e.element);
        return;
      }
      const h = hostElement(m);
      if (h) {
        edit('hosts', h.family)[add ? 'add' : 'remove'].push(h.element);
        return;
      }
      if (add) nets.add(m);
      else nets.delete(m);
      netsChanged = true;
    };
    for (const m of removed) take(m, false);
    for (const m of added) take(m, true);
    for (const e of edits.values()) this.editPart(id, e.part, e.family, e.add, e.remove);
    if (netsChanged) {
      this.setNetMembers.set(id, nets);
      const parsed = [...nets].map((m) => tryParseCidr(m, true)).filter((c) => c !== undefined);
      for (const f of FAMILIES) this.replacePart(id, 'nets', f, coverNets(parsed, f));
    }
  }

  /**
   * Adds and removes elements of one part of an IP set. A part's nft set exists only while it has
   * members (an empty set would only cost every later nft call its cache load); rules using the IP set
   * are re-rendered when a part appears or goes.
   */
  private editPart(id: string, part: IpSetPart, family: Family, add: Iterable<string>, remove: Iterable<string>): void {
    const name = nftIpSetName(id, part, family);
    const before = this.ipSetHasMembers(id, part, family);
    const adds = [...add];
    if (adds.length > 0 && !this.model.decls.has(name)) this.model.setDecl(name, partDecl(name, part, family));
    for (const r of remove) this.model.setElement(name, r, undefined);
    for (const a of adds) this.model.setElement(name, a, '');
    const after = this.ipSetHasMembers(id, part, family);
    if (!after && this.model.decls.has(name)) this.model.setDecl(name, undefined);
    if (before !== after) this.markUsers(this.setUsers.get(id));
  }

  private replacePart(id: string, part: IpSetPart, family: Family, elements: Iterable<string>): void {
    const want = new Set(elements);
    const cur = this.model.elements.get(nftIpSetName(id, part, family)) ?? new Map<string, string>();
    const remove = [...cur.keys()].filter((k) => !want.has(k));
    const add = [...want].filter((k) => !cur.has(k));
    if (add.length > 0 || remove.length > 0) this.editPart(id, part, family, add, remove);
  }

  // --- rendering --------------------------------------------------------------------------------

  /** Marks everything for re-rendering (cold start, or after the model was rebuilt). */
  markAllDirty(): void {
    this.dirtyBase = true;
    this.dirtyPools = true;
    this.dirtyVteps = true;
    for (const id of this.state.ipSets.keys()) this.dirtySets.add(id);
    for (const id of this.renderedSetType.keys()) this.dirtySets.add(id);
    for (const id of this.state.policies.keys()) this.dirtyPolicies.add(id);
    for (const id of this.state.profiles.keys()) this.dirtyProfiles.add(id);
    for (const k of this.programSets.keys()) (k.startsWith('pol:') ? this.dirtyPolicies : this.dirtyProfiles).add(k.slice(4));
    for (const i of this.workloadsByIface.keys()) this.dirtyWorkloadIfaces.add(i);
    for (const i of this.ownedByWorkloadIface.keys()) this.dirtyWorkloadIfaces.add(i);
    for (const i of this.hostsByIface.keys()) this.dirtyHostIfaces.add(i);
    for (const i of this.ownedByHostIface.keys()) this.dirtyHostIfaces.add(i);
  }

  /** Brings the model up to date with every message applied so far. */
  render(): void {
    if (this.dirtyBase) {
      for (const d of fixedDecls()) if (!this.model.decls.has(d.name)) this.model.setDecl(d.name, d);
    }
    for (const id of this.dirtySets) this.renderIpSet(id);
    this.dirtySets.clear();
    for (const id of this.dirtyPolicies) this.renderProgram('pol', id);
    this.dirtyPolicies.clear();
    for (const id of this.dirtyProfiles) this.renderProgram('pro', id);
    this.dirtyProfiles.clear();
    for (const iface of this.dirtyWorkloadIfaces) this.renderWorkloadIface(iface);
    this.dirtyWorkloadIfaces.clear();
    for (const iface of this.dirtyHostIfaces) this.renderHostIface(iface);
    this.dirtyHostIfaces.clear();
    if (this.dirtyPools) this.renderPools();
    this.dirtyPools = false;
    if (this.dirtyVteps) this.renderVteps();
    this.dirtyVteps = false;
    // Base chains last: they depend on whether a wildcard host endpoint exists.
    for (const c of baseChains(this.options, this.wildcard)) this.setChainIfChanged(c);
    this.dirtyBase = false;
  }

  private setChainIfChanged(c: NftChain): void {
    const cur = this.model.chains.get(c.name);
    if (cur && cur.rules.length === c.rules.length && cur.rules.every((r, i) => r.hash === c.rules[i].hash)
      && JSON.stringify(cur.base) === JSON.stringify(c.base)) return;
    this.model.setChain(c.name, c);
  }

  private setDeclIfChanged(d: NftSetDecl): void {
    const cur = this.model.decls.get(d.name);
    if (cur && cur.type === d.type && cur.kind === d.kind && cur.flags.join() === d.flags.join()) return;
    this.model.setDecl(d.name, d);
  }

  private renderIpSet(id: string): void {
    const set = this.state.ipSets.get(id);
    const want = new Map<string, string[]>(); // `${part}${family}` → elements
    if (set?.spec.type === 'ip-and-port') {
      for (const f of FAMILIES) want.set(`ports${f}`, []);
      for (const m of set.members) {
        const e = portElement(m);
        if (e) want.get(`ports${e.family}`)!.push(e.element);
      }
    } else if (set) {
      const p = partitionMembers(set.members);
      const nets = new Set<string>();
      for (const m of set.members) if (!hostElement(m)) nets.add(m);
      this.setNetMembers.set(id, nets);
      for (const f of FAMILIES) {
        want.set(`hosts${f}`, p.hosts[f]);
        want.set(`nets${f}`, p.nets[f]);
      }
    }
    for (const part of ['hosts', 'nets', 'ports'] as IpSetPart[]) {
      for (const f of FAMILIES) this.replacePart(id, part, f, want.get(`${part}${f}`) ?? []);
    }
    const prevType = this.renderedSetType.get(id);
    if (!set) {
      this.renderedSetType.delete(id);
      this.setNetMembers.delete(id);
      if (prevType !== undefined) this.markUsers(this.setUsers.get(id));
      return;
    }
    this.renderedSetType.set(id, set.spec.type);
    if (prevType !== set.spec.type) this.markUsers(this.setUsers.get(id));
  }

  private renderProgram(kind: 'pol' | 'pro', id: string): void {
    const key = `${kind}:${id}`;
    for (const s of this.programSets.get(key) ?? []) removeFrom(this.setUsers, s, key);
    this.programSets.delete(key);
    const prog = kind === 'pol' ? this.state.policies.get(id) : this.state.profiles.get(id);
    for (const direction of ['ingress', 'egress'] as Direction[]) {
      const chain = prog === undefined
        ? undefined
        : kind === 'pol'
          ? policyChain(prog as Parameters<typeof policyChain>[0], direction, this)
          : profileChain(prog, direction, this);
      const name = kind === 'pol' ? nftPolicyChainName(id, direction) : nftProfileChainName(id, direction);
      const existed = this.model.chains.has(name);
      // A chain without rules is left out; endpoints then skip the jump (a no-match either way).
      if (chain && chain.rules.length > 0) this.setChainIfChanged(chain);
      else if (existed) this.model.setChain(name, undefined);
      if (existed !== this.model.chains.has(name)) this.markUsers((kind === 'pol' ? this.policyUsers : this.profileUsers).get(id));
    }
    if (prog) {
      const sets = setIdsOf([...prog.ingress, ...prog.egress]);
      this.programSets.set(key, sets);
      for (const s of sets) addTo(this.setUsers, s, key);
    }
  }

  private replaceOwned(owned: Map<string, Owned>, key: string, chains: NftChain[], mapElements: Array<[string, string, string]>): void {
    const prev = owned.get(key);
    const names = new Set(chains.map((c) => c.name));
    const elems = new Set(mapElements.map(([m, k]) => `${m}\0${k}`));
    for (const [m, k] of prev?.mapElements ?? []) if (!elems.has(`${m}\0${k}`)) this.model.setElement(m, k, undefined);
    for (const n of prev?.chains ?? []) if (!names.has(n)) this.model.setChain(n, undefined);
    for (const c of chains) this.setChainIfChanged(c);
    for (const [m, k, v] of mapElements) if (this.model.elements.get(m)?.get(k) !== v) this.model.setElement(m, k, v);
    if (chains.length === 0 && mapElements.length === 0) owned.delete(key);
    else owned.set(key, { chains: [...names], mapElements: mapElements.map(([m, k]) => [m, k]) });
  }

  private setEndpointRefs(key: string, refs: { policies: string[]; profiles: string[] } | undefined): void {
    const prev = this.endpointRefs.get(key);
    for (const p of prev?.policies ?? []) removeFrom(this.policyUsers, p, key);
    for (const p of prev?.profiles ?? []) removeFrom(this.profileUsers, p, key);
    if (!refs) { this.endpointRefs.delete(key); return; }
    this.endpointRefs.set(key, refs);
    for (const p of refs.policies) addTo(this.policyUsers, p, key);
    for (const p of refs.profiles) addTo(this.profileUsers, p, key);
  }

  private renderWorkloadIface(iface: string): void {
    const key = `wl:${iface}`;
    const ids = [...(this.workloadsByIface.get(iface) ?? [])].sort();
    const ep = ids.length > 0 ? this.state.workloadEndpoints.get(ids[0]) : undefined;
    if (!ep) {
      this.setEndpointRefs(key, undefined);
      this.replaceOwned(this.ownedByWorkloadIface, iface, [], []);
      return;
    }
    const { chains, mapElements } = workloadChains(ep, iface, this);
    this.setEndpointRefs(key, { policies: endpointPolicyIds(ep), profiles: ep.profileIds });
    this.replaceOwned(this.ownedByWorkloadIface, iface, chains, mapElements);
  }

  private renderHostIface(iface: string): void {
    const key = `hep:${iface}`;
    const ids = [...(this.hostsByIface.get(iface) ?? [])].sort();
    const hep = ids.length > 0 ? this.state.hostEndpoints.get(ids[0]) : undefined;
    if (!hep) {
      this.setEndpointRefs(key, undefined);
      this.replaceOwned(this.ownedByHostIface, iface, [], []);
    } else {
      const { chains, mapElements } = hostEndpointChains(hep, iface, this, this.options);
      this.setEndpointRefs(key, { policies: endpointPolicyIds(hep), profiles: hep.profileIds });
      this.replaceOwned(this.ownedByHostIface, iface, chains, mapElements);
    }
    if (iface === '*') {
      const names = new Set(this.ownedByHostIface.get('*')?.chains ?? []);
      const has = (d: Direction, fw: boolean): string | undefined => {
        const n = nftHostEndpointChain('*', d, fw);
        return names.has(n) ? n : undefined;
      };
      this.wildcard = {
        ingress: has('ingress', false), egress: has('egress', false),
        forwardIngress: has('ingress', true), forwardEgress: has('egress', true),
      };
    }
  }

  private renderPools(): void {
    for (const f of FAMILIES) {
      const all: string[] = [];
      const nat: string[] = [];
      for (const p of this.pools.values()) {
        // Disabled pools still hold workloads: they stay "inside" for the NAT decision.
        all.push(p.cidr);
        if (p.natOutgoing && !p.disabled) nat.push(p.cidr);
      }
      this.replaceElements(NFT_SETS.allPools(f), coverNets(all, f));
      this.replaceElements(NFT_SETS.natPools(f), coverNets(nat, f));
    }
  }

  private renderVteps(): void {
    for (const f of FAMILIES) {
      const want = new Set<string>();
      for (const v of this.state.vteps.values()) {
        const h = hostElement(v.parentDeviceIp);
        if (h && h.family === f) want.add(h.element);
      }
      this.replaceElements(NFT_SETS.vxlanPeers(f), [...want]);
    }
  }

  private replaceElements(set: string, elements: string[]): void {
    const want = new Set(elements);
    const cur = this.model.elements.get(set) ?? new Map<string, string>();
    for (const k of [...cur.keys()]) if (!want.has(k)) this.model.setElement(set, k, undefined);
    for (const k of want) if (!cur.has(k)) this.model.setElement(set, k, '');
  }
}
