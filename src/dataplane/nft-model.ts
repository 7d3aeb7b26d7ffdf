// The nftables objects brindle wants in its table (chains with rules, set/map declarations, elements) and
// a journal of what changed since the kernel last matched, turned into ONE `nft -f -` transaction that
// touches only what changed: new chains, flush+refill of changed chains, element adds/deletes, removals.
// The same script writer serves a full load (cold start, the bench's full-reload anchor) and drift repair.
//
//   renderers ──setChain/setDecl/setElement──► NftModel (+ journal of priors) ──takeChange()──► NftChange
//   kernel readback (nft -j) ──observedChange()──────────────────────────────► NftChange ──► script text

import { createHash } from 'node:crypto';
import { NFT_FAMILY, NFT_TABLE } from '../lib/index.ts';

export interface BaseChainSpec {
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  priority: number;
  policy: 'accept' | 'drop';
}

/** One rule: the statement text without its comment, the human comment, and a hash of both. */
export interface NftRule {
  body: string;
  comment: string;
  hash: string;
}

export interface NftChain {
  name: string;
  base?: BaseChainSpec;
  rules: NftRule[];
}

export interface NftSetDecl {
  name: string;
  kind: 'set' | 'map';
  /** nft type expression, e.g. `ipv4_addr`, `ipv4_addr . inet_proto . inet_service`, `ifname : verdict`. */
  type: string;
  flags: string[];
}

/** Comments are limited to 128 bytes by nft; the hash takes 9 of them. */
const MAX_COMMENT = 127;
const HASH_LEN = 8;

function sanitize(text: string): string {
  // Quotes and control characters cannot appear inside an nft string.
  return text.replace(/["\\]/g, "'").replace(/[\x00-\x1f\x7f]/g, ' ');
}

/** Builds a rule; the hash covers body and comment, so any edit of either is seen on readback. */
export function nftRule(body: string, comment: string): NftRule {
  let c = sanitize(comment);
  if (Buffer.byteLength(c) > MAX_COMMENT - HASH_LEN - 1) {
    c = Buffer.from(c).subarray(0, MAX_COMMENT - HASH_LEN - 4).toString('utf8').replace(/\uFFFD+$/, '') + '...';
  }
  const hash = createHash('sha1').update(body).update('\0').update(c).digest('hex').slice(0, HASH_LEN);
  return { body, comment: c, hash };
}

/** The hash an nft rule comment carries, or undefined when it is not one of brindle's. */
export function hashOfComment(comment: string | undefined): string | undefined {
  if (!comment) return undefined;
  const m = /^([0-9a-f]{8}) /.exec(comment);
  return m ? m[1] : undefined;
}

export function ruleLine(chain: string, rule: NftRule): string {
  return `add rule ${NFT_FAMILY} ${NFT_TABLE} ${chain} ${rule.body} comment "${rule.hash} ${rule.comment}"`;
}

function baseSpecText(b: BaseChainSpec): string {
  return `type ${b.type} hook ${b.hook} priority ${b.priority}; policy ${b.policy};`;
}

export function sameBase(a: BaseChainSpec | undefined, b: BaseChainSpec | undefined): boolean {
  if (!a || !b) return a === b;
  return a.type === b.type && a.hook === b.hook && a.priority === b.priority && a.policy === b.policy;
}

export function sameDecl(a: NftSetDecl, b: NftSetDecl): boolean {
  return a.kind === b.kind && a.type.replace(/\s+/g, ' ') === b.type.replace(/\s+/g, ' ')
    && [...a.flags].sort().join(',') === [...b.flags].sort().join(',');
}

/** What one transaction does; see scriptFor for the order it runs in. */
export interface NftChange {
  /** Replace the whole table atomically (drift that cannot be repaired piecemeal). */
  fullReplace: boolean;
  /** The table may be missing: start with `add table` (a no-op when it exists). */
  ensureTable: boolean;
  declsAdded: NftSetDecl[];
  declsRemoved: string[];
  chainsAdded: NftChain[];
  /** Base chains whose hook/priority/policy drifted: deleted and added back. */
  chainsRecreated: NftChain[];
  chainsRefilled: NftChain[];
  chainsRemoved: string[];
  elementsRemoved: Map<string, string[]>;
  elementsAdded: Map<string, Array<[string, string]>>;
}

export function emptyChange(): NftChange {
  return {
    fullReplace: false, ensureTable: false, declsAdded: [], declsRemoved: [], chainsAdded: [], chainsRecreated: [],
    chainsRefilled: [], chainsRemoved: [], elementsRemoved: new Map(), elementsAdded: new Map(),
  };
}

export function isEmptyChange(c: NftChange): boolean {
  return !c.fullReplace && c.declsAdded.length === 0 && c.declsRemoved.length === 0 && c.chainsAdded.length === 0
    && c.chainsRecreated.length === 0 && c.chainsRefilled.length === 0 && c.chainsRemoved.length === 0
    && c.elementsRemoved.size === 0 && c.elementsAdded.size === 0;
}

/** Counts for reports and logs. */
export function changeSummary(c: NftChange): Record<string, number> {
  let added = 0;
  let removed = 0;
  for (const l of c.elementsAdded.values()) added += l.length;
  for (const l of c.elementsRemoved.values()) removed += l.length;
  return {
    fullReplace: c.fullReplace ? 1 : 0,
    setsAdded: c.declsAdded.length, setsRemoved: c.declsRemoved.length,
    chainsAdded: c.chainsAdded.length + c.chainsRecreated.length, chainsRefilled: c.chainsRefilled.length,
    chainsRemoved: c.chainsRemoved.length, elementsAdded: added, elementsRemoved: removed,
  };
}

const ELEMENTS_PER_LINE = 1000;

function elementText(decl: NftSetDecl | undefined, key: string, value: string): string {
  const k = decl && /^ifname\b/.test(decl.type) ? `"${key}"` : key;
  return decl?.kind === 'map' ? `${k} : ${value}` : k;
}

function declLine(d: NftSetDecl): string {
  const flags = d.flags.length > 0 ? ` flags ${d.flags.join(',')};` : '';
  return `add ${d.kind} ${NFT_FAMILY} ${NFT_TABLE} ${d.name} { type ${d.type};${flags} }`;
}

function chainAddLine(c: NftChain): string {
  return c.base
    ? `add chain ${NFT_FAMILY} ${NFT_TABLE} ${c.name} { ${baseSpecText(c.base)} }`
    : `add chain ${NFT_FAMILY} ${NFT_TABLE} ${c.name}`;
}

/**
 * The transaction text. Order: table, new sets/maps, new chains (so every jump and set reference
 * resolves), element deletes then adds, refills of changed chains and rules of new ones, then removed
 * chains (all flushed first, so references among them go away) and removed sets.
 */
export function scriptFor(change: NftChange, model?: NftModel): string {
  const T = `${NFT_FAMILY} ${NFT_TABLE}`;
  const out: string[] = [];
  if (change.fullReplace) {
    if (!model) throw new Error('scriptFor: a full replace needs the model');
    out.push(`add table ${T}`, `delete table ${T}`);
    out.push(scriptFor(fullChange(model)).trimEnd());
    return out.join('\n') + '\n';
  }
  if (change.ensureTable) out.push(`add table ${T}`);
  const declOf = (name: string): NftSetDecl | undefined => model?.decls.get(name) ?? change.declsAdded.find((d) => d.name === name);
  for (const d of change.declsAdded) out.push(declLine(d));
  for (const c of change.chainsRecreated) out.push(`delete chain ${T} ${c.name}`, chainAddLine(c));
  for (const c of change.chainsAdded) out.push(chainAddLine(c));
  for (const [set, keys] of change.elementsRemoved) {
    const decl = declOf(set);
    for (let i = 0; i < keys.length; i += ELEMENTS_PER_LINE) {
      const part = keys.slice(i, i + ELEMENTS_PER_LINE).map((k) => elementText(decl && { ...decl, kind: 'set' }, k, ''));
      out.push(`delete element ${T} ${set} { ${part.join(', ')} }`);
    }
  }
  for (const [set, elems] of change.elementsAdded) {
    const decl = declOf(set);
    for (let i = 0; i < elems.length; i += ELEMENTS_PER_LINE) {
      const part = elems.slice(i, i + ELEMENTS_PER_LINE).map(([k, v]) => elementText(decl, k, v));
      out.push(`add element ${T} ${set} { ${part.join(', ')} }`);
    }
  }
  for (const c of change.chainsRefilled) {
    out.push(`flush chain ${T} ${c.name}`);
    for (const r of c.rules) out.push(ruleLine(c.name, r));
  }
  for (const c of [...change.chainsRecreated, ...change.chainsAdded]) {
    for (const r of c.rules) out.push(ruleLine(c.name, r));
  }
  for (const name of change.chainsRemoved) out.push(`flush chain ${T} ${name}`);
  for (const name of change.chainsRemoved) out.push(`delete chain ${T} ${name}`);
  for (const name of change.declsRemoved) {
    out.push(`delete ${model?.removedKind(name) ?? 'set'} ${T} ${name}`);
  }
  return out.length > 0 ? out.join('\n') + '\n' : '';
}

/** Everything in the model as additions: the full-load transaction (after `add table`). */
export function fullChange(model: NftModel): NftChange {
  const c = emptyChange();
  c.ensureTable = true;
  c.declsAdded = [...model.decls.values()];
  c.chainsAdded = [...model.chains.values()];
  for (const [set, elems] of model.elements) if (elems.size > 0) c.elementsAdded.set(set, [...elems]);
  return c;
}

/** What the kernel holds, as read back (rules only by their hashes). */
export interface ObservedTable {
  chains: Map<string, { base?: BaseChainSpec; hashes: Array<string | undefined> }>;
  decls: Map<string, NftSetDecl>;
  elements: Map<string, Map<string, string>>;
}

/**
 * The repair that makes the kernel equal the model: missing or extra objects, chains whose rule hashes
 * differ, element differences. A set or map whose type drifted cannot be swapped while rules refer to
 * it, so that case (rare: someone rebuilt our table by hand) replaces the whole table atomically.
 */
export function observedChange(model: NftModel, observed: ObservedTable | undefined): NftChange {
  if (!observed) return fullChange(model);
  const c = emptyChange();
  c.ensureTable = true;
  for (const [name, d] of model.decls) {
    const o = observed.decls.get(name);
    if (!o) c.declsAdded.push(d);
    else if (!sameDecl(o, d)) return { ...emptyChange(), fullReplace: true };
  }
  for (const name of observed.decls.keys()) if (!model.decls.has(name)) c.declsRemoved.push(name);
  for (const [name, ch] of model.chains) {
    const o = observed.chains.get(name);
    if (!o) { c.chainsAdded.push(ch); continue; }
    if (!sameBase(o.base, ch.base)) {
      if (o.base && ch.base) { c.chainsRecreated.push(ch); continue; }
      // A regular chain where a base chain belongs (or the reverse) may be referenced: start over.
      return { ...emptyChange(), fullReplace: true };
    }
    const hashes = ch.rules.map((r) => r.hash);
    if (hashes.length !== o.hashes.length || hashes.some((h, i) => h !== o.hashes[i])) c.chainsRefilled.push(ch);
  }
  for (const name of observed.chains.keys()) if (!model.chains.has(name)) c.chainsRemoved.push(name);
  for (const [set, want] of model.elements) {
    const have = observed.elements.get(set) ?? new Map<string, string>();
    const newSet = !observed.decls.has(set);
    const removed: string[] = [];
    const added: Array<[string, string]> = [];
    if (!newSet) for (const [k, v] of have) if (want.get(k) !== v) removed.push(k);
    for (const [k, v] of want) if (newSet || have.get(k) !== v) added.push([k, v]);
    if (removed.length > 0) c.elementsRemoved.set(set, removed);
    if (added.length > 0) c.elementsAdded.set(set, added);
  }
  return c;
}

/**
 * Desired table contents plus a journal of each touched object's value before the first touch since the
 * last successful commit. takeChange() turns the journal into the minimal change; commit() forgets it.
 */
export class NftModel {
  readonly chains = new Map<string, NftChain>();
  readonly decls = new Map<string, NftSetDecl>();
  /** Set/map name → element key → value ('' for set elements, the verdict for map elements). */
  readonly elements = new Map<string, Map<string, string>>();
  private readonly priorChains = new Map<string, NftChain | undefined>();
  private readonly priorDecls = new Map<string, NftSetDecl | undefined>();
  private readonly priorElements = new Map<string, Map<string, string | undefined>>();
  private readonly removedKinds = new Map<string, 'set' | 'map'>();

  setChain(name: string, chain: NftChain | undefined): void {
    if (!this.priorChains.has(name)) this.priorChains.set(name, this.chains.get(name));
    if (chain) this.chains.set(name, chain);
    else this.chains.delete(name);
  }

  setDecl(name: string, decl: NftSetDecl | undefined): void {
    const cur = this.decls.get(name);
    if (!this.priorDecls.has(name)) this.priorDecls.set(name, cur);
    if (decl) {
      this.decls.set(name, decl);
      if (!this.elements.has(name)) this.elements.set(name, new Map());
      return;
    }
    if (cur) this.removedKinds.set(name, cur.kind);
    // Removing a set removes its elements; journal them so a re-add in the same batch diffs correctly.
    const elems = this.elements.get(name);
    if (elems) for (const k of [...elems.keys()]) this.setElement(name, k, undefined);
    this.decls.delete(name);
    this.elements.delete(name);
  }

  setElement(set: string, key: string, value: string | undefined): void {
    let elems = this.elements.get(set);
    if (!elems) {
      if (value === undefined) return;
      elems = new Map();
      this.elements.set(set, elems);
    }
    let prior = this.priorElements.get(set);
    if (!prior) {
      prior = new Map();
      this.priorElements.set(set, prior);
    }
    if (!prior.has(key)) prior.set(key, elems.get(key));
    if (value === undefined) elems.delete(key);
    else elems.set(key, value);
  }

  removedKind(name: string): 'set' | 'map' {
    return this.decls.get(name)?.kind ?? this.removedKinds.get(name) ?? 'set';
  }

  /** The change since the last commit (the kernel is assumed to hold the priors). */
  takeChange(): NftChange {
    const c = emptyChange();
    const declExistedBefore = (name: string): boolean => (this.priorDecls.has(name) ? this.priorDecls.get(name) !== undefined : this.decls.has(name));
    for (const [name, prior] of this.priorDecls) {
      const now = this.decls.get(name);
      if (now && !prior) c.declsAdded.push(now);
      else if (!now && prior) c.declsRemoved.push(name);
      else if (now && prior && !sameDecl(now, prior)) return { ...emptyChange(), fullReplace: true };
    }
    for (const [name, prior] of this.priorChains) {
      const now = this.chains.get(name);
      if (now && !prior) c.chainsAdded.push(now);
      else if (!now && prior) c.chainsRemoved.push(name);
      else if (now && prior) {
        if (!sameBase(now.base, prior.base)) c.chainsRecreated.push(now);
        else if (now.rules.length !== prior.rules.length || now.rules.some((r, i) => r.hash !== prior.rules[i].hash)) c.chainsRefilled.push(now);
      }
    }
    for (const [set, prior] of this.priorElements) {
      const elems = this.elements.get(set);
      if (!elems) continue; // the set goes away with its elements
      const existed = declExistedBefore(set) && !c.declsAdded.some((d) => d.name === set);
      const removed: string[] = [];
      const added: Array<[string, string]> = [];
      for (const [k, before] of prior) {
        const now = elems.get(k);
        if (now === before) continue;
        if (before !== undefined && existed) removed.push(k);
        if (now !== undefined) added.push([k, now]);
      }
      if (removed.length > 0) c.elementsRemoved.set(set, removed);
      if (added.length > 0) c.elementsAdded.set(set, added);
    }
    return c;
  }

  /** The kernel now matches the model: forget the priors. */
  commit(): void {
    this.priorChains.clear();
    this.priorDecls.clear();
    this.priorElements.clear();
    this.removedKinds.clear();
  }

  /** The whole table as one script (a full load). */
  fullScript(): string {
    return scriptFor(fullChange(this), this);
  }
}
