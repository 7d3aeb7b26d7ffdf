// Reading brindle's table back from the kernel (`nft -j list table inet brindle`) into the shape the
// model diffs against: chains with their rules' hashes (from the comments), set/map declarations, and
// elements spelled as the renderer spells them. Also per-rule counters for metrics and flow attribution.
//
//   nft -j list table ──parseTable()──► ObservedTable ──observedChange(model)──► repair transaction

import { protocolNumberOf } from './nft-elements.ts';
import { hashOfComment } from './nft-model.ts';
import type { BaseChainSpec, NftSetDecl, ObservedTable } from './nft-model.ts';

type Json = unknown;

interface NftJsonChain {
  name: string;
  type?: string;
  hook?: string;
  prio?: number | string;
  policy?: string;
}

interface NftJsonSet {
  name: string;
  type: string | string[];
  map?: string;
  flags?: string[];
  elem?: Json[];
}

interface NftJsonRule {
  chain: string;
  comment?: string;
  expr?: Json[];
}

const NAMED_PRIORITIES: Record<string, number> = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 };

function priorityOf(p: number | string | undefined): number {
  if (typeof p === 'number') return p;
  if (typeof p === 'string' && p in NAMED_PRIORITIES) return NAMED_PRIORITIES[p];
  return Number(p);
}

function typeText(t: string | string[]): string {
  return Array.isArray(t) ? t.join(' . ') : t;
}

/** One element as the renderer spells it (see nft-elements.ts). */
export function elementKey(e: Json): string {
  if (typeof e === 'string' || typeof e === 'number') return String(e);
  if (e && typeof e === 'object') {
    const o = e as Record<string, Json>;
    if ('elem' in o) return elementKey((o.elem as Record<string, Json>).val);
    if ('prefix' in o) {
      const p = o.prefix as { addr: string; len: number };
      return `${p.addr}/${p.len}`;
    }
    if ('range' in o) {
      const [a, b] = o.range as Json[];
      return `${elementKey(a)}-${elementKey(b)}`;
    }
    if ('concat' in o) {
      return (o.concat as Json[]).map((part, i) => {
        // The protocol of an ip . proto . port element is printed by name.
        if (i === 1 && typeof part === 'string') return String(protocolNumberOf(part) ?? part);
        return elementKey(part);
      }).join(' . ');
    }
  }
  return JSON.stringify(e);
}

/** A verdict as the renderer spells it: `jump CHAIN`, `goto CHAIN`, `accept`, `drop`. */
export function verdictText(v: Json): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object') {
    const [k, val] = Object.entries(v as Record<string, Json>)[0] ?? [];
    if (k === undefined) return '';
    const target = val && typeof val === 'object' ? (val as { target?: string }).target : undefined;
    return target ? `${k} ${target}` : k;
  }
  return JSON.stringify(v);
}

/** Parses the `nft -j list table` document into an ObservedTable. */
export function parseTable(doc: Json): ObservedTable {
  const items = ((doc as { nftables?: Json[] })?.nftables ?? []) as Array<Record<string, Json>>;
  const out: ObservedTable = { chains: new Map(), decls: new Map(), elements: new Map() };
  for (const item of items) {
    if ('chain' in item) {
      const c = item.chain as NftJsonChain;
      const base: BaseChainSpec | undefined = c.hook
        ? { type: c.type as BaseChainSpec['type'], hook: c.hook as BaseChainSpec['hook'], priority: priorityOf(c.prio), policy: (c.policy ?? 'accept') as BaseChainSpec['policy'] }
        : undefined;
      out.chains.set(c.name, { ...(base ? { base } : {}), hashes: [] });
    } else if ('set' in item || 'map' in item) {
      const isMap = 'map' in item;
      const s = (isMap ? item.map : item.set) as NftJsonSet;
      const decl: NftSetDecl = {
        name: s.name,
        kind: isMap ? 'map' : 'set',
        type: isMap ? `${typeText(s.type)} : ${s.map}` : typeText(s.type),
        flags: s.flags ?? [],
      };
      out.decls.set(s.name, decl);
      const elems = new Map<string, string>();
      for (const e of s.elem ?? []) {
        if (isMap && Array.isArray(e)) elems.set(elementKey(e[0]), verdictText(e[1]));
        else elems.set(elementKey(e), '');
      }
      out.elements.set(s.name, elems);
    } else if ('rule' in item) {
      const r = item.rule as NftJsonRule;
      let chain = out.chains.get(r.chain);
      if (!chain) {
        chain = { hashes: [] };
        out.chains.set(r.chain, chain);
      }
      chain.hashes.push(hashOfComment(r.comment));
    }
  }
  return out;
}

export interface RuleCounter {
  chain: string;
  /** The rule's comment without the hash: who it belongs to (policy/profile, direction, rule index). */
  comment: string;
  hash?: string;
  packets: number;
  bytes: number;
}

/** Counter values of every rule that has a counter, in table order. */
export function parseCounters(doc: Json): RuleCounter[] {
  const items = ((doc as { nftables?: Json[] })?.nftables ?? []) as Array<Record<string, Json>>;
  const out: RuleCounter[] = [];
  for (const item of items) {
    if (!('rule' in item)) continue;
    const r = item.rule as NftJsonRule;
    for (const e of r.expr ?? []) {
      if (e && typeof e === 'object' && 'counter' in (e as object)) {
        const c = (e as { counter: { packets: number; bytes: number } }).counter;
        const hash = hashOfComment(r.comment);
        out.push({
          chain: r.chain,
          comment: hash && r.comment ? r.comment.slice(hash.length + 1) : r.comment ?? '',
          ...(hash ? { hash } : {}),
          packets: c.packets,
          bytes: c.bytes,
        });
        break;
      }
    }
  }
  return out;
}
