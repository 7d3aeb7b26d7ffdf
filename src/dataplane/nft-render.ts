// Pure builders of brindle's nftables objects: the fixed base chains, maps and sets; one chain per policy
// or profile and direction; one chain per workload (or host endpoint) and direction that walks its tiers
// the way policy-walk.ts does, using two packet-mark bits as the policy chains' answer:
//
//   wl-e-brvX: anti-spoofing → clear marks → per tier: jump pol-… ; accept mark? return (allowed)
//              ; pass mark? skip the tier's other policies ; end of tier: drop unless passed
//              → per profile: jump pro-… ; accept mark? return → drop ("no profile allowed")
//
// An endpoint chain returns when the packet is allowed and drops it otherwise; a policy chain sets the
// accept or pass bit and returns, or drops (Deny), or returns without a bit (no rule matched).

import {
  NFT_CHAINS, NFT_MAPS, NFT_MARK_ACCEPT, NFT_MARK_PASS, NFT_PREROUTING_PRIORITY, NFT_SETS, VXLAN_PORT, WORKLOAD_INTERFACE_PREFIX,
  nftHostEndpointChain, nftPolicyChain, nftProfileChain, nftWorkloadChain,
} from '../lib/index.ts';
import type {
  Direction, HostEndpointState, PolicyProgram, ProfileProgram, TierPolicies, WorkloadEndpointState,
} from '../dataplane-api/index.ts';
import { coverNets } from './nft-elements.ts';
import type { Family } from './nft-elements.ts';
import { nftRule } from './nft-model.ts';
import type { NftChain, NftRule, NftSetDecl } from './nft-model.ts';
import { hex, protoText, renderRuleProgram } from './nft-rules.ts';
import type { RuleRenderContext } from './nft-rules.ts';
import { protocolNumberOf } from './nft-elements.ts';

export interface FailsafePort {
  protocol: string;
  port: number;
  /** Only from (inbound) or to (outbound) this CIDR. */
  net?: string;
}

/** Calico's defaults (FelixConfiguration failsafeInbound/OutboundHostPorts), as the evaluator uses them. */
export const DEFAULT_FAILSAFE_INBOUND: readonly FailsafePort[] = [
  { protocol: 'tcp', port: 22 }, { protocol: 'udp', port: 68 }, { protocol: 'tcp', port: 179 },
  { protocol: 'tcp', port: 2379 }, { protocol: 'tcp', port: 2380 }, { protocol: 'tcp', port: 5473 },
  { protocol: 'tcp', port: 6443 }, { protocol: 'tcp', port: 6666 }, { protocol: 'tcp', port: 6667 },
];
export const DEFAULT_FAILSAFE_OUTBOUND: readonly FailsafePort[] = [
  { protocol: 'udp', port: 53 }, { protocol: 'udp', port: 67 }, { protocol: 'tcp', port: 179 },
  { protocol: 'tcp', port: 2379 }, { protocol: 'tcp', port: 2380 }, { protocol: 'tcp', port: 5473 },
  { protocol: 'tcp', port: 6443 }, { protocol: 'tcp', port: 6666 }, { protocol: 'tcp', port: 6667 },
];

export interface NftRenderOptions {
  /** What a workload's traffic to this host gets after its egress policy allowed it (Calico's defaultEndpointToHostAction). */
  endpointToHostAction: 'accept' | 'drop';
  failsafeInbound: readonly FailsafePort[];
  failsafeOutbound: readonly FailsafePort[];
  /** Interfaces with this prefix are workloads: unknown ones are dropped (fail closed). */
  workloadInterfacePrefix: string;
  nflogGroup?: number;
}

export function defaultRenderOptions(): NftRenderOptions {
  return {
    endpointToHostAction: 'accept',
    failsafeInbound: DEFAULT_FAILSAFE_INBOUND,
    failsafeOutbound: DEFAULT_FAILSAFE_OUTBOUND,
    workloadInterfacePrefix: WORKLOAD_INTERFACE_PREFIX,
  };
}

const CLEAR_BOTH = hex((~(NFT_MARK_ACCEPT | NFT_MARK_PASS)) >>> 0);
const CLEAR_PASS = hex((~NFT_MARK_PASS) >>> 0);
const ACCEPT_BIT = hex(NFT_MARK_ACCEPT);
const PASS_BIT = hex(NFT_MARK_PASS);

const dirText = (d: Direction): string => (d === 'ingress' ? 'ingress' : 'egress');

// ---------------------------------------------------------------------------------------------------
// Policy and profile chains

export function policyChain(policy: PolicyProgram, direction: Direction, ctx: RuleRenderContext): NftChain {
  const rules = (direction === 'ingress' ? policy.ingress : policy.egress).flatMap((r) => renderRuleProgram(r, ctx));
  return { name: nftPolicyChain(policy.id, direction), rules };
}

export function profileChain(profile: ProfileProgram, direction: Direction, ctx: RuleRenderContext): NftChain {
  const rules = (direction === 'ingress' ? profile.ingress : profile.egress).flatMap((r) => renderRuleProgram(r, ctx));
  return { name: nftProfileChain(profile.id, direction), rules };
}

// ---------------------------------------------------------------------------------------------------
// Endpoint chains

export interface EndpointRenderContext {
  hasPolicy(id: string): boolean;
  hasProfile(id: string): boolean;
  /**
   * Whether the policy's (or profile's) chain for a direction has rules. Chains without rules do not
   * exist (each chain costs every later nft call a little), and jumping to nothing is a no-match.
   */
  hasPolicyRules(id: string, direction: Direction): boolean;
  hasProfileRules(id: string, direction: Direction): boolean;
}

export interface PolicyStage {
  tiers: TierPolicies[];
  /** Normal policy drops at the end of a Deny tier; untracked/preDNAT stages only continue. */
  endOfTierDrop: boolean;
}

/**
 * The tier walk of one endpoint and direction (policy-walk's walkTiers, then walkProfiles). `profiles`
 * undefined = no profile stage (forward policy), and the chain then returns (allows) at its end.
 */
export function tierWalkRules(
  label: string, direction: Direction, stages: PolicyStage[], profiles: string[] | undefined, ctx: EndpointRenderContext,
  options: { clearMarks?: boolean } = {},
): NftRule[] {
  const d = dirText(direction);
  // Workload chains are entered right after the base chain cleared the bits; others clear them here.
  const rules: NftRule[] = options.clearMarks === false ? [] : [nftRule(`counter meta mark set meta mark & ${CLEAR_BOTH}`, `${label} ${d}: clear marks`)];
  const tiersToRun: Array<{ tier: TierPolicies; ids: string[]; endOfTierDrop: boolean }> = [];
  for (const s of stages) {
    for (const tier of s.tiers) {
      const ids = direction === 'ingress' ? tier.ingress : tier.egress;
      if (ids.length > 0) tiersToRun.push({ tier, ids, endOfTierDrop: s.endOfTierDrop });
    }
  }
  for (let t = 0; t < tiersToRun.length; t++) {
    const { tier, ids, endOfTierDrop } = tiersToRun[t];
    // The pass bit can only be set once a policy of this tier ran.
    let jumped = false;
    const guard = (): string => (jumped ? `meta mark & ${PASS_BIT} == 0 ` : '');
    for (const id of ids) {
      if (!ctx.hasPolicy(id)) {
        // Fail closed, as the walk does: never run with a hole where a policy should be.
        rules.push(nftRule(`${guard()}counter drop`, `${label} ${d}: tier ${tier.name}: missing policy ${id}`));
        if (!jumped) return rules;
        continue; // only reached after a Pass, which skips the rest of the tier
      }
      if (!ctx.hasPolicyRules(id, direction)) continue;
      rules.push(nftRule(`${guard()}counter jump ${nftPolicyChain(id, direction)}`, `${label} ${d}: tier ${tier.name}: policy ${id}`));
      rules.push(nftRule(`meta mark & ${ACCEPT_BIT} != 0 counter return`, `${label} ${d}: allowed by policy ${id}`));
      jumped = true;
    }
    if (tier.defaultAction === 'Deny' && endOfTierDrop) {
      rules.push(nftRule(`${guard()}counter drop`, `${label} ${d}: end of tier ${tier.name}`));
      if (!jumped) return rules;
    }
    const more = t < tiersToRun.length - 1 || profiles !== undefined;
    if (more && jumped) rules.push(nftRule(`counter meta mark set meta mark & ${CLEAR_PASS}`, `${label} ${d}: after tier ${tier.name}`));
  }
  if (profiles === undefined) {
    rules.push(nftRule('counter return', `${label} ${d}: no policy decided (allowed)`));
    return rules;
  }
  for (const id of profiles) {
    // The walk skips a missing profile; an empty one matches nothing.
    if (!ctx.hasProfile(id) || !ctx.hasProfileRules(id, direction)) continue;
    rules.push(nftRule(`counter jump ${nftProfileChain(id, direction)}`, `${label} ${d}: profile ${id}`));
    rules.push(nftRule(`meta mark & ${ACCEPT_BIT} != 0 counter return`, `${label} ${d}: allowed by profile ${id}`));
  }
  rules.push(nftRule('counter drop', `${label} ${d}: no profile allowed`));
  return rules;
}

function familyNets(nets: string[], family: Family): string[] {
  return coverNets(nets, family);
}

function antiSpoofRules(ep: WorkloadEndpointState, label: string): NftRule[] {
  const rules: NftRule[] = [];
  const extra = ep.allowSpoofedSourcePrefixes ?? [];
  for (const family of [4, 6] as Family[]) {
    const own = familyNets([...(family === 4 ? ep.ipv4Nets : ep.ipv6Nets), ...extra], family);
    const kw = family === 4 ? 'ip' : 'ip6';
    if (own.length === 0) {
      rules.push(nftRule(`meta nfproto ipv${family} counter drop`, `${label} egress: no IPv${family} address (anti-spoofing)`));
    } else {
      const lit = own.length === 1 ? own[0] : `{ ${own.join(', ')} }`;
      rules.push(nftRule(`${kw} saddr != ${lit} counter drop`, `${label} egress: source not the workload's (anti-spoofing)`));
    }
  }
  return rules;
}

export function workloadLabel(ep: WorkloadEndpointState): string {
  return `wl ${ep.namespace}/${ep.name}`;
}

/** The two chains of a workload endpoint and the dispatch map elements that lead to them. */
export function workloadChains(ep: WorkloadEndpointState, iface: string, ctx: EndpointRenderContext): { chains: NftChain[]; mapElements: Array<[string, string, string]> } {
  const label = workloadLabel(ep);
  const egressName = nftWorkloadChain(iface, 'egress');
  const ingressName = nftWorkloadChain(iface, 'ingress');
  const egress: NftChain = {
    name: egressName,
    rules: [
      ...antiSpoofRules(ep, label),
      ...tierWalkRules(label, 'egress', [{ tiers: ep.tiers, endOfTierDrop: true }], ep.profileIds, ctx, { clearMarks: false }),
    ],
  };
  const ingress: NftChain = {
    name: ingressName,
    rules: tierWalkRules(label, 'ingress', [{ tiers: ep.tiers, endOfTierDrop: true }], ep.profileIds, ctx, { clearMarks: false }),
  };
  return {
    chains: [egress, ingress],
    mapElements: [[NFT_MAPS.workloadFrom, iface, `jump ${egressName}`], [NFT_MAPS.workloadTo, iface, `jump ${ingressName}`]],
  };
}

function failsafeRules(ports: readonly FailsafePort[], direction: Direction, label: string): NftRule[] {
  const rules: NftRule[] = [];
  const peer = direction === 'ingress' ? 'saddr' : 'daddr';
  const plain = new Map<number, number[]>();
  for (const p of ports) {
    const proto = protocolNumberOf(p.protocol);
    if (proto === undefined) continue;
    if (p.net) {
      const c = p.net.includes(':') ? 'ip6' : 'ip';
      rules.push(nftRule(`${c} ${peer} ${p.net} meta l4proto ${protoText(proto)} th dport ${p.port} counter return`,
        `${label} ${direction}: failsafe ${p.protocol}:${p.port} ${p.net}`));
      continue;
    }
    const list = plain.get(proto) ?? [];
    list.push(p.port);
    plain.set(proto, list);
  }
  for (const [proto, list] of [...plain].sort((a, b) => a[0] - b[0])) {
    const sorted = [...new Set(list)].sort((a, b) => a - b);
    const lit = sorted.length === 1 ? String(sorted[0]) : `{ ${sorted.join(', ')} }`;
    rules.push(nftRule(`meta l4proto ${protoText(proto)} th dport ${lit} counter return`, `${label} ${direction}: failsafe ${protoText(proto)}`));
  }
  return rules;
}

export function hostEndpointLabel(hep: HostEndpointState): string {
  return `hep ${hep.name}`;
}

/**
 * Chains of a host endpoint: traffic to and from host processes (failsafe ports, untracked and preDNAT
 * tiers without end-of-tier drop, normal tiers, profiles), and forwarded traffic when applyOnForward
 * policies apply. Named interfaces get map elements (goto: nothing after them in input/output).
 */
export function hostEndpointChains(hep: HostEndpointState, iface: string, ctx: EndpointRenderContext, opts: NftRenderOptions): { chains: NftChain[]; mapElements: Array<[string, string, string]> } {
  const label = hostEndpointLabel(hep);
  const inName = nftHostEndpointChain(iface, 'ingress');
  const outName = nftHostEndpointChain(iface, 'egress');
  const chains: NftChain[] = [
    {
      name: inName,
      rules: [
        ...failsafeRules(opts.failsafeInbound, 'ingress', label),
        ...tierWalkRules(label, 'ingress', [
          { tiers: hep.untrackedTiers, endOfTierDrop: false },
          { tiers: hep.preDnatTiers, endOfTierDrop: false },
          { tiers: hep.tiers, endOfTierDrop: true },
        ], hep.profileIds, ctx),
      ],
    },
    {
      name: outName,
      rules: [
        ...failsafeRules(opts.failsafeOutbound, 'egress', label),
        ...tierWalkRules(label, 'egress', [
          { tiers: hep.untrackedTiers, endOfTierDrop: false },
          { tiers: hep.tiers, endOfTierDrop: true },
        ], hep.profileIds, ctx),
      ],
    },
  ];
  const mapElements: Array<[string, string, string]> = iface === '*' ? [] : [[NFT_MAPS.hostFrom, iface, `goto ${inName}`], [NFT_MAPS.hostTo, iface, `goto ${outName}`]];
  for (const direction of ['ingress', 'egress'] as Direction[]) {
    const has = hep.forwardTiers.some((t) => (direction === 'ingress' ? t.ingress : t.egress).length > 0);
    if (!has) continue;
    const name = nftHostEndpointChain(iface, direction, true);
    chains.push({ name, rules: tierWalkRules(`${label} forward`, direction, [{ tiers: hep.forwardTiers, endOfTierDrop: true }], undefined, ctx) });
    if (iface !== '*') mapElements.push([direction === 'ingress' ? NFT_MAPS.hostForwardFrom : NFT_MAPS.hostForwardTo, iface, `jump ${name}`]);
  }
  return { chains, mapElements };
}

// ---------------------------------------------------------------------------------------------------
// Fixed objects

export function fixedDecls(): NftSetDecl[] {
  const maps = Object.values(NFT_MAPS).map((name): NftSetDecl => ({ name, kind: 'map', type: 'ifname : verdict', flags: [] }));
  const sets: NftSetDecl[] = [];
  for (const f of [4, 6] as Family[]) {
    const type = f === 4 ? 'ipv4_addr' : 'ipv6_addr';
    sets.push({ name: NFT_SETS.allPools(f), kind: 'set', type, flags: ['interval'] });
    sets.push({ name: NFT_SETS.natPools(f), kind: 'set', type, flags: ['interval'] });
    sets.push({ name: NFT_SETS.vxlanPeers(f), kind: 'set', type, flags: [] });
  }
  return [...maps, ...sets];
}

/** Which host endpoint chains the base chains jump to for "every interface" (`*`) host endpoints. */
export interface WildcardHostEndpoint {
  ingress?: string;
  egress?: string;
  forwardIngress?: string;
  forwardEgress?: string;
}

export function baseChains(opts: NftRenderOptions, wildcard: WildcardHostEndpoint = {}): NftChain[] {
  const wl = `"${opts.workloadInterfacePrefix}*"`;
  const M = NFT_MAPS;
  const ct = (hook: string): NftRule[] => [
    nftRule('ct state established,related counter accept', `${hook}: established and related`),
    nftRule('ct state invalid counter drop', `${hook}: invalid`),
  ];
  // Workload egress runs once, in prerouting, for traffic that is then forwarded or delivered to this
  // host alike: the kernel re-validates every chain reachable from each hook on each commit, so each
  // endpoint chain is reachable from one hook only.
  const prerouting: NftChain = {
    name: NFT_CHAINS.prerouting,
    base: { type: 'filter', hook: 'prerouting', priority: NFT_PREROUTING_PRIORITY, policy: 'accept' },
    rules: [
      ...ct('prerouting'),
      nftRule(`iifname != ${wl} counter accept`, 'prerouting: not from a workload'),
      nftRule('icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } counter accept', 'prerouting: IPv6 neighbour discovery from a workload'),
      // A workload must not inject VXLAN packets into the overlay (a peer would decapsulate them).
      nftRule(`ip daddr @${NFT_SETS.vxlanPeers(4)} udp dport ${VXLAN_PORT} counter drop`, 'prerouting: VXLAN to a host from a workload'),
      nftRule(`ip6 daddr @${NFT_SETS.vxlanPeers(6)} udp dport ${VXLAN_PORT} counter drop`, 'prerouting: VXLAN to a host from a workload'),
      // An endpoint chain returns only with the accept bit set; a clear bit after the dispatch means no
      // chain ran (unknown interface) — a stale bit from an earlier step must not count, hence the clears.
      nftRule(`counter meta mark set meta mark & ${CLEAR_BOTH}`, 'prerouting: clear marks'),
      nftRule(`counter iifname vmap @${M.workloadFrom}`, 'prerouting: from a workload: anti-spoofing and its egress policy'),
      nftRule(`meta mark & ${ACCEPT_BIT} == 0 counter drop`, 'prerouting: from an unknown workload interface (fail closed)'),
      nftRule(`counter meta mark set meta mark & ${CLEAR_BOTH}`, 'prerouting: clear marks (routing sees the mark)'),
    ],
  };
  const forward: NftChain = {
    name: NFT_CHAINS.forward,
    base: { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' },
    rules: [
      ...ct('forward'),
      nftRule(`counter meta mark set meta mark & ${CLEAR_BOTH}`, 'forward: clear marks'),
      nftRule(`counter oifname vmap @${M.workloadTo}`, 'forward: to a workload: its ingress policy'),
      nftRule(`oifname ${wl} meta mark & ${ACCEPT_BIT} == 0 counter drop`, 'forward: to an unknown workload interface (fail closed)'),
      nftRule(`counter iifname vmap @${M.hostForwardFrom}`, 'forward: in through a host endpoint (applyOnForward)'),
      nftRule(`counter oifname vmap @${M.hostForwardTo}`, 'forward: out through a host endpoint (applyOnForward)'),
      ...(wildcard.forwardIngress ? [nftRule(`iifname != ${wl} counter jump ${wildcard.forwardIngress}`, 'forward: in through any host interface')] : []),
      ...(wildcard.forwardEgress ? [nftRule(`oifname != ${wl} counter jump ${wildcard.forwardEgress}`, 'forward: out through any host interface')] : []),
    ],
  };
  const input: NftChain = {
    name: NFT_CHAINS.input,
    base: { type: 'filter', hook: 'input', priority: 0, policy: 'accept' },
    rules: [
      ...ct('input'),
      // The workload's egress policy already ran in prerouting.
      nftRule(`iifname ${wl} counter ${opts.endpointToHostAction}`, 'input: from a workload: endpoint-to-host action'),
      nftRule('iifname "lo" counter accept', 'input: loopback'),
      nftRule(`ip saddr @${NFT_SETS.vxlanPeers(4)} udp dport ${VXLAN_PORT} counter accept`, 'input: VXLAN from a known host'),
      nftRule(`ip6 saddr @${NFT_SETS.vxlanPeers(6)} udp dport ${VXLAN_PORT} counter accept`, 'input: VXLAN from a known host'),
      nftRule(`counter iifname vmap @${M.hostFrom}`, 'input: host endpoint ingress'),
      ...(wildcard.ingress ? [nftRule(`counter goto ${wildcard.ingress}`, 'input: host endpoint ingress (any interface)')] : []),
    ],
  };
  const output: NftChain = {
    name: NFT_CHAINS.output,
    base: { type: 'filter', hook: 'output', priority: 0, policy: 'accept' },
    rules: [
      ...ct('output'),
      nftRule('oifname "lo" counter accept', 'output: loopback'),
      nftRule(`oifname ${wl} counter accept`, 'output: host to a local workload is not policed'),
      nftRule(`counter oifname vmap @${M.hostTo}`, 'output: host endpoint egress'),
      ...(wildcard.egress ? [nftRule(`counter goto ${wildcard.egress}`, 'output: host endpoint egress (any interface)')] : []),
    ],
  };
  const nat: NftChain = {
    name: NFT_CHAINS.natPostrouting,
    base: { type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept' },
    rules: ([4, 6] as Family[]).map((f) => {
      const kw = f === 4 ? 'ip' : 'ip6';
      return nftRule(`${kw} saddr @${NFT_SETS.natPools(f)} ${kw} daddr != @${NFT_SETS.allPools(f)} counter masquerade`,
        `nat: outgoing from natOutgoing pools (IPv${f})`);
    }),
  };
  return [prerouting, forward, input, output, nat];
}
