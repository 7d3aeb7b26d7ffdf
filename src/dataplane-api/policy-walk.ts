// Reference semantics of compiled rule programs: does a rule match a packet, and what does an endpoint's
// ordered tier list decide for it (Allow / Deny / Log / Pass, end-of-tier default, profiles as fallback).
// The policy trace runs this over the calc graph's programs, and the nftables renderer must mean the same
// thing, so a disagreement between the trace and the kernel is a renderer bug with a test to show it.

import { canonicalIp, ipInCidr, tryParseCidr, tryParseIp } from '../lib/index.ts';
import type { Cidr } from '../lib/index.ts';
import type {
  Direction, EndpointMatch, PolicyProgram, PortRange, ProfileProgram, RuleProgram, TierPolicies,
} from './messages.ts';
import { PROTO } from './messages.ts';

/** One packet (the first of a connection). Addresses may be in any valid spelling. */
export interface Packet {
  ipVersion: 4 | 6;
  srcIp: string;
  dstIp: string;
  protocol: number;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
}

export interface IpSetLookup {
  ipSetContains(id: string, ip: string, protocol: number, port: number | undefined): boolean;
}

export interface ProgramLookup {
  policy(id: string): PolicyProgram | undefined;
  profile(id: string): ProfileProgram | undefined;
}

const PROTO_NAMES: Record<number, string> = { [PROTO.TCP]: 'tcp', [PROTO.UDP]: 'udp', [PROTO.SCTP]: 'sctp' };

export function protocolMemberName(protocol: number): string {
  return PROTO_NAMES[protocol] ?? String(protocol);
}

/** Membership test over a `net` set's CIDR members; host routes are looked up by address. */
export class NetMembership {
  private readonly hosts = new Set<string>();
  private readonly nets: Cidr[] = [];

  constructor(members: Iterable<string>) {
    for (const m of members) {
      const c = tryParseCidr(m, true);
      if (!c) continue;
      const full = c.family === 4 ? 32 : 128;
      if (c.prefixLength === full) this.hosts.add(canonicalIp(c.text.slice(0, c.text.indexOf('/'))));
      else this.nets.push(c);
    }
  }

  /** The member string of an `ip-and-port` set: `10.0.0.1,tcp:80`. */
  static ipPortMember(ip: string, protocol: number, port: number): string {
    const canon = tryParseIp(ip) ? canonicalIp(ip) : ip;
    return `${canon},${protocolMemberName(protocol)}:${port}`;
  }

  contains(ip: string): boolean {
    if (this.hosts.has(ip)) return true;
    const parsed = tryParseIp(ip);
    if (!parsed) return false;
    if (this.hosts.size > 0 && this.hosts.has(canonicalIp(ip))) return true;
    for (const n of this.nets) if (n.family === parsed.family && ipInCidr(parsed, n)) return true;
    return false;
  }
}

function inNets(ip: string, nets: string[]): boolean {
  const parsed = tryParseIp(ip);
  if (!parsed) return false;
  for (const n of nets) {
    const c = tryParseCidr(n, true);
    if (c && c.family === parsed.family && ipInCidr(parsed, c)) return true;
  }
  return false;
}

function inRanges(port: number, ranges: PortRange[]): boolean {
  for (const r of ranges) if (port >= r.first && port <= r.last) return true;
  return false;
}

function sideMatches(m: EndpointMatch, ip: string, port: number | undefined, protocol: number, sets: IpSetLookup): boolean {
  if (m.nets && !inNets(ip, m.nets)) return false;
  if (m.notNets && inNets(ip, m.notNets)) return false;
  if (m.ipSets) for (const id of m.ipSets) if (!sets.ipSetContains(id, ip, protocol, port)) return false;
  if (m.notIpSets) for (const id of m.notIpSets) if (sets.ipSetContains(id, ip, protocol, port)) return false;
  if (m.ports || m.namedPortIpSets) {
    if (port === undefined) return false;
    const byNumber = m.ports !== undefined && inRanges(port, m.ports);
    const byName = !byNumber && (m.namedPortIpSets ?? []).some((id) => sets.ipSetContains(id, ip, protocol, port));
    if (!byNumber && !byName) return false;
  }
  if ((m.notPorts || m.notNamedPortIpSets) && port !== undefined) {
    if (m.notPorts && inRanges(port, m.notPorts)) return false;
    if ((m.notNamedPortIpSets ?? []).some((id) => sets.ipSetContains(id, ip, protocol, port))) return false;
  }
  return true;
}

function icmpMatches(icmp: { type: number; code?: number }, pkt: Packet): boolean {
  if (pkt.protocol !== PROTO.ICMP && pkt.protocol !== PROTO.ICMPv6) return false;
  if (pkt.icmpType !== icmp.type) return false;
  return icmp.code === undefined || icmp.code === pkt.icmpCode;
}

export function ruleMatches(rule: RuleProgram, pkt: Packet, sets: IpSetLookup): boolean {
  if (rule.neverMatches !== undefined) return false;
  if (rule.ipVersion !== undefined && rule.ipVersion !== pkt.ipVersion) return false;
  if (rule.protocol !== undefined && rule.protocol !== pkt.protocol) return false;
  if (rule.notProtocol !== undefined && rule.notProtocol === pkt.protocol) return false;
  if (rule.icmp && !icmpMatches(rule.icmp, pkt)) return false;
  if (rule.notIcmp && icmpMatches(rule.notIcmp, pkt)) return false;
  return sideMatches(rule.src, pkt.srcIp, pkt.srcPort, pkt.protocol, sets)
    && sideMatches(rule.dst, pkt.dstIp, pkt.dstPort, pkt.protocol, sets);
}

// ---------------------------------------------------------------------------------------------------
// Walking an endpoint's tiers.

export type WalkStep =
  | { type: 'policy'; tier: string; policy: string; outcome: 'allow' | 'deny' | 'pass' | 'no-match' | 'missing'; ruleIndex?: number; logged: number[] }
  | { type: 'end-of-tier'; tier: string; action: 'deny' | 'pass' }
  | { type: 'profile'; profile: string; outcome: 'allow' | 'deny' | 'no-match' | 'missing'; ruleIndex?: number; logged: number[] };

export type WalkDecision =
  | { kind: 'policy-rule'; tier: string; policy: string; ruleIndex: number; action: 'allow' | 'deny' }
  | { kind: 'missing-policy'; tier: string; policy: string }
  | { kind: 'end-of-tier'; tier: string }
  | { kind: 'profile-rule'; profile: string; ruleIndex: number; action: 'allow' | 'deny' }
  | { kind: 'no-profile-allowed'; profiles: string[] }
  /** Tiers ran out without a verdict and the caller has no fallback (preDNAT, untracked, forward). */
  | { kind: 'no-verdict' };

export interface WalkResult {
  /** 'continue' only from walkTiers: nothing decided, go on to the next stage. */
  verdict: 'allow' | 'deny' | 'continue';
  decision: WalkDecision;
  steps: WalkStep[];
}

interface RuleListOutcome {
  action: 'allow' | 'deny' | 'pass' | 'no-match';
  ruleIndex?: number;
  logged: number[];
}

function runRules(rules: RuleProgram[], pkt: Packet, sets: IpSetLookup): RuleListOutcome {
  const logged: number[] = [];
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    if (!ruleMatches(rule, pkt, sets)) continue;
    if (rule.action === 'log') { logged.push(i); continue; }
    return { action: rule.action, ruleIndex: i, logged };
  }
  return { action: 'no-match', logged };
}

export interface WalkTiersOptions {
  /** Whether a tier whose policies neither allowed, denied nor passed drops (normal policy: yes). */
  endOfTierDrop: boolean;
}

/** Walks tiers in order; 'continue' when every tier passed or none applied. */
export function walkTiers(
  tiers: TierPolicies[], direction: Direction, programs: ProgramLookup, pkt: Packet, sets: IpSetLookup,
  options: WalkTiersOptions = { endOfTierDrop: true },
): WalkResult {
  const steps: WalkStep[] = [];
  for (const tier of tiers) {
    const ids = direction === 'ingress' ? tier.ingress : tier.egress;
    if (ids.length === 0) continue;
    let passed = false;
    for (const id of ids) {
      const prog = programs.policy(id);
      if (!prog) {
        // Fail closed: an endpoint never runs with a hole where a policy should be.
        steps.push({ type: 'policy', tier: tier.name, policy: id, outcome: 'missing', logged: [] });
        return { verdict: 'deny', decision: { kind: 'missing-policy', tier: tier.name, policy: id }, steps };
      }
      const out = runRules(direction === 'ingress' ? prog.ingress : prog.egress, pkt, sets);
      steps.push({ type: 'policy', tier: tier.name, policy: id, outcome: out.action, ruleIndex: out.ruleIndex, logged: out.logged });
      if (out.action === 'allow' || out.action === 'deny') {
        return {
          verdict: out.action,
          decision: { kind: 'policy-rule', tier: tier.name, policy: id, ruleIndex: out.ruleIndex as number, action: out.action },
          steps,
        };
      }
      if (out.action === 'pass') { passed = true; break; }
    }
    if (passed) continue;
    if (tier.defaultAction === 'Pass' || !options.endOfTierDrop) {
      steps.push({ type: 'end-of-tier', tier: tier.name, action: 'pass' });
      continue;
    }
    steps.push({ type: 'end-of-tier', tier: tier.name, action: 'deny' });
    return { verdict: 'deny', decision: { kind: 'end-of-tier', tier: tier.name }, steps };
  }
  return { verdict: 'continue', decision: { kind: 'no-verdict' }, steps };
}

/** Profiles in order: the first Allow or Deny decides; none deciding is a drop. */
export function walkProfiles(
  profileIds: string[], direction: Direction, programs: ProgramLookup, pkt: Packet, sets: IpSetLookup,
): WalkResult {
  const steps: WalkStep[] = [];
  for (const id of profileIds) {
    const prog = programs.profile(id);
    if (!prog) {
      steps.push({ type: 'profile', profile: id, outcome: 'missing', logged: [] });
      continue;
    }
    const out = runRules(direction === 'ingress' ? prog.ingress : prog.egress, pkt, sets);
    // Pass has no meaning after the last tier; it falls through like a rule that did not match.
    const outcome = out.action === 'pass' ? 'no-match' : out.action;
    steps.push({ type: 'profile', profile: id, outcome, ruleIndex: outcome === 'no-match' ? undefined : out.ruleIndex, logged: out.logged });
    if (outcome === 'allow' || outcome === 'deny') {
      return { verdict: outcome, decision: { kind: 'profile-rule', profile: id, ruleIndex: out.ruleIndex as number, action: outcome }, steps };
    }
  }
  return { verdict: 'deny', decision: { kind: 'no-profile-allowed', profiles: [...profileIds] }, steps };
}

/** Normal endpoint policy for one direction: tiers (with end-of-tier drop), then profiles. */
export function walkEndpoint(
  tiers: TierPolicies[], profileIds: string[], direction: Direction, programs: ProgramLookup, pkt: Packet, sets: IpSetLookup,
): WalkResult & { verdict: 'allow' | 'deny' } {
  const t = walkTiers(tiers, direction, programs, pkt, sets);
  if (t.verdict !== 'continue') return t as WalkResult & { verdict: 'allow' | 'deny' };
  const p = walkProfiles(profileIds, direction, programs, pkt, sets);
  return { verdict: p.verdict as 'allow' | 'deny', decision: p.decision, steps: [...t.steps, ...p.steps] };
}
