// How IP set members and CIDR lists become nft set elements. Single addresses go to hash sets (changing
// one element costs the same at 100k members); networks go to interval sets, which reject overlapping
// elements, so a network inside another one is left out (the outer one already matches it).
//
//   IpSetUpdate members ──partitionMembers──► hosts (h4/h6 sets) + covering nets (n4/n6 sets)
//   named-port members "10.0.0.1,tcp:80" ──portElement──► "10.0.0.1 . 6 . 80" (p4/p6 sets)

import { canonicalIp, familyBits, ipToString, prefixMask, tryParseCidr, tryParseIp } from '../lib/index.ts';
import type { ParsedCidr } from '../lib/index.ts';

export type Family = 4 | 6;

const HOST_V4 = /^((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))(?:\/32)?$/;

/** A member that is one address (`10.0.0.1`, `10.0.0.1/32`, `fd00::1/128`) as its nft element, else undefined. */
export function hostElement(member: string): { family: Family; element: string } | undefined {
  const m = HOST_V4.exec(member);
  if (m) return { family: 4, element: m[1] };
  if (!member.includes(':')) return undefined;
  const c = tryParseCidr(member, true);
  if (!c || c.family !== 6 || c.prefixLength !== 128) return undefined;
  return { family: 6, element: ipToString(c.network, 6) };
}

/** Drops networks contained in another one of the list; keeps one family; canonical text, sorted. */
export function coverNets(cidrs: Iterable<string | ParsedCidr>, family: Family): string[] {
  const byLen = new Map<number, Set<bigint>>();
  const all: ParsedCidr[] = [];
  for (const x of cidrs) {
    const c = typeof x === 'string' ? tryParseCidr(x, true) : x;
    if (!c || c.family !== family) continue;
    let s = byLen.get(c.prefixLength);
    if (!s) {
      s = new Set();
      byLen.set(c.prefixLength, s);
    }
    if (s.has(c.network)) continue;
    s.add(c.network);
    all.push(c);
  }
  const lens = [...byLen.keys()].sort((a, b) => a - b);
  const kept: ParsedCidr[] = [];
  for (const c of all) {
    let covered = false;
    for (const l of lens) {
      if (l >= c.prefixLength) break;
      if (byLen.get(l)!.has(c.network & prefixMask(family, l))) { covered = true; break; }
    }
    if (!covered) kept.push(c);
  }
  kept.sort((a, b) => (a.network < b.network ? -1 : a.network > b.network ? 1 : a.prefixLength - b.prefixLength));
  const full = familyBits(family);
  return kept.map((c) => (c.prefixLength === full ? ipToString(c.network, family) : c.text));
}

export interface PartitionedMembers {
  hosts: Record<Family, string[]>;
  nets: Record<Family, string[]>;
}

/** Splits `net` IP set members into host elements and covering network elements, per family. */
export function partitionMembers(members: Iterable<string>): PartitionedMembers {
  const hosts: Record<Family, string[]> = { 4: [], 6: [] };
  const nets: Record<Family, ParsedCidr[]> = { 4: [], 6: [] };
  for (const m of members) {
    const h = hostElement(m);
    if (h) { hosts[h.family].push(h.element); continue; }
    const c = tryParseCidr(m, true);
    if (c) nets[c.family].push(c);
  }
  return { hosts, nets: { 4: coverNets(nets[4], 4), 6: coverNets(nets[6], 6) } };
}

const PROTO_NUMBERS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, 'ipv6-icmp': 58, icmpv6: 58, sctp: 132, udplite: 136 };

/** Protocol name or number as a number (nft prints well-known ones by name). */
export function protocolNumberOf(text: string | number): number | undefined {
  if (typeof text === 'number') return text;
  if (/^\d+$/.test(text)) return Number(text);
  return PROTO_NUMBERS[text.toLowerCase()];
}

/** `10.0.0.1,tcp:80` → `10.0.0.1 . 6 . 80` with its family; undefined for malformed members. */
export function portElement(member: string): { family: Family; element: string } | undefined {
  const comma = member.lastIndexOf(',');
  const colon = member.lastIndexOf(':');
  if (comma < 0 || colon < comma) return undefined;
  const ip = tryParseIp(member.slice(0, comma));
  const proto = protocolNumberOf(member.slice(comma + 1, colon));
  const port = member.slice(colon + 1);
  if (!ip || proto === undefined || !/^\d+$/.test(port) || Number(port) > 65535) return undefined;
  return { family: ip.family, element: `${canonicalIp(member.slice(0, comma))} . ${proto} . ${Number(port)}` };
}
