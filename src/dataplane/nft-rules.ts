// Compiled rule programs (dataplane-api) → nft rules, meaning exactly what policy-walk.ts's ruleMatches
// says. One program can need several nft rules: a family split when addresses are involved (IP sets
// exist once per family), and OR-ed alternatives (numeric ports OR named-port sets, a host set OR its
// network set). Alternatives of a Log rule are made mutually exclusive so a packet is logged once.
//
//   RuleProgram ──renderRuleProgram(ctx)──► NftRule[] (counter + action + comment "<hash> <who> <dir>#<i>")

import { NFLOG_GROUP, NFT_MARK_ACCEPT, NFT_MARK_PASS, nftIpSetName } from '../lib/index.ts';
import type { EndpointMatch, PortRange, RuleProgram } from '../dataplane-api/index.ts';
import { PROTO } from '../dataplane-api/index.ts';
import { coverNets } from './nft-elements.ts';
import type { Family } from './nft-elements.ts';
import { nftRule } from './nft-model.ts';
import type { NftRule } from './nft-model.ts';

export type IpSetPart = 'hosts' | 'nets' | 'ports';

export interface RuleRenderContext {
  /** The IP set's type, or undefined when it is unknown (an unknown set contains nothing). */
  ipSetType(id: string): 'net' | 'ip-and-port' | undefined;
  /**
   * Whether one part of the set has members in a family (single addresses in the hash set, networks in
   * the interval set, named-port members). Only parts with members exist in the kernel and are consulted.
   */
  ipSetHasMembers(id: string, part: IpSetPart, family: Family): boolean;
  nflogGroup?: number;
}

const PROTO_NAMES: Record<number, string> = {
  [PROTO.ICMP]: 'icmp', [PROTO.TCP]: 'tcp', [PROTO.UDP]: 'udp', [PROTO.ICMPv6]: 'ipv6-icmp', [PROTO.SCTP]: 'sctp', [PROTO.UDPLite]: 'udplite',
};
const PORT_PROTOCOLS: ReadonlySet<number> = new Set([PROTO.TCP, PROTO.UDP, PROTO.SCTP, PROTO.UDPLite]);
const PORT_GUARD = 'meta l4proto { tcp, udp, sctp, udplite }';
const NO_PORTS = 'meta l4proto != { tcp, udp, sctp, udplite }';

export function protoText(p: number): string {
  return PROTO_NAMES[p] ?? String(p);
}

export function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/** nft statements that end a rule for each action (after the matches and the counter). */
export function actionStatement(action: RuleProgram['action'], owner: 'policy' | 'profile', logPrefix: string, group: number): string {
  switch (action) {
    case 'allow':
      return `meta mark set meta mark | ${hex(NFT_MARK_ACCEPT)} return`;
    case 'deny':
      return 'drop';
    case 'pass':
      // In a profile, Pass ends that profile like a rule that did not match (policy-walk's walkProfiles).
      return owner === 'policy' ? `meta mark set meta mark | ${hex(NFT_MARK_PASS)} return` : 'return';
    case 'log':
      return `log prefix "${logPrefix}" group ${group}`;
  }
}

/** One condition of an OR: the match and its negation (used to make later alternatives exclusive). */
interface Alt {
  pos: string[];
  neg?: string;
}

/** AND of factors, each an OR of alternatives; [] = cannot match, [[]] = no condition. */
type Factor = string[][];

const NONE: Factor = [[]];
const IMPOSSIBLE: Factor = [];

function orFactor(alts: Alt[], exclusive: boolean): Factor {
  if (!exclusive) return alts.map((a) => a.pos);
  const out: Factor = [];
  const negs: string[] = [];
  for (const a of alts) {
    out.push([...negs, ...a.pos]);
    if (a.neg === undefined) break; // nothing can follow an alternative without a negation
    negs.push(a.neg);
  }
  return out;
}

function product(factors: Factor[]): Factor {
  let acc: Factor = [[]];
  for (const f of factors) {
    if (f.length === 0) return [];
    const next: Factor = [];
    for (const a of acc) for (const b of f) next.push([...a, ...b]);
    acc = next;
  }
  return acc;
}

function setLiteral(items: string[]): string {
  return items.length === 1 ? items[0] : `{ ${items.join(', ')} }`;
}

/** Port ranges merged (overlapping or adjacent) and spelled for nft. */
export function portsLiteral(ranges: PortRange[]): string {
  const sorted = [...ranges].sort((a, b) => a.first - b.first);
  const merged: PortRange[] = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last && r.first <= last.last + 1) last.last = Math.max(last.last, r.last);
    else merged.push({ ...r });
  }
  return setLiteral(merged.map((r) => (r.first === r.last ? String(r.first) : `${r.first}-${r.last}`)));
}

function hasAddressMatch(m: EndpointMatch): boolean {
  return !!(m.nets || m.notNets || m.ipSets || m.notIpSets || m.namedPortIpSets || m.notNamedPortIpSets);
}

interface SideNames {
  addr: string;
  port: string;
}

function sideNames(family: Family | undefined, side: 'src' | 'dst'): SideNames {
  const fam = family === 6 ? 'ip6' : 'ip';
  return { addr: `${fam} ${side === 'src' ? 'saddr' : 'daddr'}`, port: `th ${side === 'src' ? 'sport' : 'dport'}` };
}

/**
 * Membership of one IP set as alternatives (its host set OR its network set), [] when the set has no
 * member of the family (it contains nothing then), or undefined when the set is unknown.
 */
function membership(id: string, family: Family, n: SideNames, ctx: RuleRenderContext): Alt[] | undefined {
  const type = ctx.ipSetType(id);
  if (type === undefined) return undefined;
  const parts: IpSetPart[] = type === 'ip-and-port' ? ['ports'] : ['hosts', 'nets'];
  const alts: Alt[] = [];
  for (const part of parts) {
    if (!ctx.ipSetHasMembers(id, part, family)) continue;
    const set = nftIpSetName(id, part, family);
    const key = part === 'ports' ? `${n.addr} . meta l4proto . ${n.port}` : n.addr;
    alts.push({ pos: [`${key} @${set}`], neg: `${key} != @${set}` });
  }
  return alts;
}

function sideFactors(
  m: EndpointMatch, side: 'src' | 'dst', family: Family | undefined, rule: RuleProgram, ctx: RuleRenderContext, portGuard: boolean,
): Factor[] {
  const n = sideNames(family, side);
  const exclusive = rule.action === 'log';
  const out: Factor[] = [];
  if (family !== undefined) {
    if (m.nets) {
      const nets = coverNets(m.nets, family);
      out.push(nets.length === 0 ? IMPOSSIBLE : [[`${n.addr} ${setLiteral(nets)}`]]);
    }
    if (m.notNets) {
      const nets = coverNets(m.notNets, family);
      if (nets.length > 0) out.push([[`${n.addr} != ${setLiteral(nets)}`]]);
    }
    for (const id of m.ipSets ?? []) {
      const alts = membership(id, family, n, ctx) ?? [];
      out.push(alts.length > 0 ? orFactor(alts, exclusive) : IMPOSSIBLE);
    }
    for (const id of m.notIpSets ?? []) {
      const alts = membership(id, family, n, ctx);
      if (alts) out.push([alts.map((a) => a.neg as string)]);
    }
  }
  const proto = rule.protocol;
  const portsKnown = proto !== undefined && PORT_PROTOCOLS.has(proto);
  if (m.ports || m.namedPortIpSets) {
    if (proto !== undefined && !portsKnown) {
      out.push(IMPOSSIBLE); // such a packet has no port, so the rule cannot match
    } else {
      const alts: Alt[] = [];
      if (m.ports) alts.push({ pos: [`${n.port} ${portsLiteral(m.ports)}`], neg: `${n.port} != ${portsLiteral(m.ports)}` });
      for (const id of m.namedPortIpSets ?? []) {
        if (family === undefined) continue;
        alts.push(...(membership(id, family, n, ctx) ?? []));
      }
      out.push(alts.length === 0 ? IMPOSSIBLE : orFactor(alts, exclusive));
    }
  }
  if (m.notPorts || m.notNamedPortIpSets) {
    if (proto === undefined || portsKnown) {
      const conj: string[] = [];
      if (m.notPorts) conj.push(`${n.port} != ${portsLiteral(m.notPorts)}`);
      for (const id of m.notNamedPortIpSets ?? []) {
        if (family === undefined) continue;
        for (const a of membership(id, family, n, ctx) ?? []) conj.push(a.neg as string);
      }
      if (portsKnown || portGuard) out.push([conj]);
      else out.push([[NO_PORTS], [PORT_GUARD, ...conj]]); // a packet without ports passes notPorts
    }
  }
  return out;
}

function icmpFactors(rule: RuleProgram, family: Family): Factor[] {
  const icmpProto = family === 4 ? PROTO.ICMP : PROTO.ICMPv6;
  const kw = family === 4 ? 'icmp' : 'icmpv6';
  const out: Factor[] = [];
  if (rule.icmp) {
    if (rule.protocol !== undefined && rule.protocol !== icmpProto) return [IMPOSSIBLE];
    out.push([[`${kw} type ${rule.icmp.type}`, ...(rule.icmp.code !== undefined ? [`${kw} code ${rule.icmp.code}`] : [])]]);
  }
  if (rule.notIcmp) {
    const t = rule.notIcmp;
    if (rule.protocol === undefined || rule.protocol === icmpProto) {
      const alts: string[][] = [];
      if (rule.protocol === undefined) alts.push([`meta l4proto != ${protoText(icmpProto)}`]);
      alts.push([`${kw} type != ${t.type}`]);
      if (t.code !== undefined) alts.push([`${kw} type ${t.type}`, `${kw} code != ${t.code}`]);
      out.push(alts);
    }
  }
  return out;
}

const FAMILY_IMPLYING = /^(ip |ip6 |icmp |icmpv6 )/;

/** The match parts of a rule program: one string per nft rule it needs ('' = matches everything). */
export function ruleMatchVariants(rule: RuleProgram, ctx: RuleRenderContext): string[] {
  if (rule.neverMatches !== undefined) return [];
  const split = rule.ipVersion !== undefined || rule.icmp !== undefined || rule.notIcmp !== undefined
    || hasAddressMatch(rule.src) || hasAddressMatch(rule.dst);
  const families: Array<Family | undefined> = split ? ([4, 6] as Family[]).filter((f) => rule.ipVersion === undefined || rule.ipVersion === f) : [undefined];
  const portGuard = rule.protocol === undefined && !!(rule.src.ports || rule.src.namedPortIpSets || rule.dst.ports || rule.dst.namedPortIpSets);
  const out: string[] = [];
  for (const family of families) {
    const factors: Factor[] = [];
    if (rule.protocol !== undefined) factors.push([[`meta l4proto ${protoText(rule.protocol)}`]]);
    if (rule.notProtocol !== undefined) factors.push([[`meta l4proto != ${protoText(rule.notProtocol)}`]]);
    if (family !== undefined) factors.push(...icmpFactors(rule, family));
    // Without a protocol, port matches need a protocol that has ports (the walk: no port, no match).
    if (portGuard) factors.push([[PORT_GUARD]]);
    factors.push(...sideFactors(rule.src, 'src', family, rule, ctx, portGuard));
    factors.push(...sideFactors(rule.dst, 'dst', family, rule, ctx, portGuard));
    for (const alt of product(factors)) {
      const parts = [...alt];
      if (family !== undefined && !parts.some((p) => FAMILY_IMPLYING.test(p))) parts.unshift(`meta nfproto ipv${family}`);
      out.push(parts.join(' '));
    }
  }
  return out;
}

/** Who a rule belongs to, for comments and log prefixes. */
export function ruleOwnerText(rule: RuleProgram): string {
  const a = rule.attribution;
  if (a.owner === 'profile') return `profile ${a.name}`;
  return `${a.tier ?? 'default'}/${a.namespace ? `${a.namespace}/` : ''}${a.name}`;
}

function logPrefix(rule: RuleProgram): string {
  const a = rule.attribution;
  const p = `brindle ${a.direction === 'ingress' ? 'in' : 'out'} ${ruleOwnerText(rule)}#${a.index}: `;
  return p.length <= 64 ? p.replace(/"/g, "'") : `${p.slice(0, 60).replace(/"/g, "'")}..: `;
}

/** Every nft rule of one rule program, each with a counter, its action and a comment naming it. */
export function renderRuleProgram(rule: RuleProgram, ctx: RuleRenderContext): NftRule[] {
  const a = rule.attribution;
  const comment = `${ruleOwnerText(rule)} ${a.direction}#${a.index} ${rule.action}`;
  const action = actionStatement(rule.action, a.owner, logPrefix(rule), ctx.nflogGroup ?? NFLOG_GROUP);
  return ruleMatchVariants(rule, ctx).map((m) => nftRule(`${m ? `${m} ` : ''}counter ${action}`, comment));
}
