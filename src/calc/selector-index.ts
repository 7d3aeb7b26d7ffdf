// Incremental selector × label-holder matching for the calc graph (Felix's labelindex, reduced): reports
// each (selector, holder) pair as it starts or stops matching. Both sides are indexed by label so that
// neither a label change nor a new selector scans everything: a selector is filed under one label it
// requires (`k == v`, `k in {…}`, `has(k)` inside an AND), a holder under its label pairs, and only the
// candidates that share such a label are evaluated. Selectors with no required label (`!`, `||`, `!=`,
// `all()`) are evaluated against every holder, as in Calico.
// Awkward cases: re-setting identical labels or an identical selector is a no-op; `in {}` matches nothing.

import type { Labels, Selector, SelectorNode } from '../model/index.ts';
import { LABEL_NAMESPACE, LABEL_ORCHESTRATOR, NAMESPACE_LABEL_PREFIX } from './labels.ts';

/** A label every match must carry: with one of `values`, or any value when `values` is null. */
export interface Restriction {
  key: string;
  values: string[] | null;
}

/** How much a restriction on this key narrows the candidates; higher is better. */
function keyScore(key: string): number {
  if (key === LABEL_ORCHESTRATOR) return 0;
  if (key === LABEL_NAMESPACE || key.startsWith(NAMESPACE_LABEL_PREFIX) || key.startsWith('projectcalico.org/')) return 1;
  return 2;
}

function better(a: Restriction, b: Restriction): Restriction {
  const score = (r: Restriction) => (r.values !== null ? 10 : 0) + keyScore(r.key) * 3 - (r.values ? Math.min(r.values.length, 2) : 0);
  return score(b) > score(a) ? b : a;
}

/** Every label the selector requires (one per term of a top-level AND). */
export function restrictionsOf(node: SelectorNode): Restriction[] {
  switch (node.op) {
    case 'eq': return [{ key: node.label, values: [node.value] }];
    case 'in': return [{ key: node.label, values: [...node.values] }];
    case 'has': case 'contains': case 'startsWith': case 'endsWith':
      return [{ key: node.label, values: null }];
    case 'and': return node.exprs.flatMap(restrictionsOf);
    default: return [];
  }
}

/** The most useful label the selector requires by its shape alone, or undefined when it requires none. */
export function restrictionOf(node: SelectorNode): Restriction | undefined {
  let best: Restriction | undefined;
  for (const r of restrictionsOf(node)) best = best ? better(best, r) : r;
  return best;
}

interface SelectorEntry {
  sel: Selector;
  restriction: Restriction | undefined;
  matches: Set<string>;
}

interface HolderEntry {
  labels: Labels;
  /** Created on the first match: most holders of a large cluster match no active selector. */
  matches: Set<string> | undefined;
}

function holderMatch(h: HolderEntry, selectorId: string): void {
  if (h.matches) h.matches.add(selectorId);
  else h.matches = new Set([selectorId]);
}

function holderUnmatch(h: HolderEntry, selectorId: string): void {
  h.matches?.delete(selectorId);
  if (h.matches?.size === 0) h.matches = undefined;
}

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (s) s.add(v);
  else m.set(k, new Set([v]));
}

function removeFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}

function sameLabels(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

const EMPTY: ReadonlySet<string> = new Set();

export interface SelectorIndexEvents {
  onMatch(selectorId: string, holderId: string): void;
  onUnmatch(selectorId: string, holderId: string): void;
}

export class SelectorIndex {
  private readonly selectors = new Map<string, SelectorEntry>();
  private readonly holders = new Map<string, HolderEntry>();
  private readonly selByValue = new Map<string, Map<string, Set<string>>>();
  private readonly selByKey = new Map<string, Set<string>>();
  private readonly unrestricted = new Set<string>();
  private readonly holdersByValue = new Map<string, Map<string, Set<string>>>();
  /**
   * Label keys holders are indexed by: only keys some selector was filed under, added on first use (one
   * scan of the holders), so labels no selector restricts on cost nothing.
   */
  private readonly indexedKeys = new Set<string>();
  private readonly events: SelectorIndexEvents;
  /** Selector evaluations performed (for tests that check the index avoids scans). */
  evaluations = 0;

  constructor(events: SelectorIndexEvents) {
    this.events = events;
  }

  get selectorCount(): number {
    return this.selectors.size;
  }

  get holderCount(): number {
    return this.holders.size;
  }

  hasSelector(id: string): boolean {
    return this.selectors.has(id);
  }

  matchesOfSelector(id: string): ReadonlySet<string> {
    return this.selectors.get(id)?.matches ?? EMPTY;
  }

  matchesOfHolder(id: string): ReadonlySet<string> {
    return this.holders.get(id)?.matches ?? EMPTY;
  }

  labelsOf(id: string): Labels | undefined {
    return this.holders.get(id)?.labels;
  }

  private fileSelector(id: string, r: Restriction | undefined): void {
    if (!r) { this.unrestricted.add(id); return; }
    if (r.values === null) { addTo(this.selByKey, r.key, id); return; }
    let byValue = this.selByValue.get(r.key);
    if (!byValue) { byValue = new Map(); this.selByValue.set(r.key, byValue); }
    for (const v of r.values) addTo(byValue, v, id);
  }

  private unfileSelector(id: string, r: Restriction | undefined): void {
    if (!r) { this.unrestricted.delete(id); return; }
    if (r.values === null) { removeFrom(this.selByKey, r.key, id); return; }
    const byValue = this.selByValue.get(r.key);
    if (!byValue) return;
    for (const v of r.values) removeFrom(byValue, v, id);
    if (byValue.size === 0) this.selByValue.delete(r.key);
  }

  private indexKey(key: string): void {
    if (this.indexedKeys.has(key)) return;
    this.indexedKeys.add(key);
    for (const [id, h] of this.holders) {
      const v = h.labels[key];
      if (typeof v === 'string') this.fileHolderLabel(id, key, v);
    }
  }

  private candidateCount(r: Restriction): number {
    this.indexKey(r.key);
    const byValue = this.holdersByValue.get(r.key);
    let n = 0;
    if (r.values === null) for (const set of byValue?.values() ?? []) n += set.size;
    else for (const v of r.values) n += byValue?.get(v)?.size ?? 0;
    return n;
  }

  /**
   * Of the labels a selector requires, the one with the fewest holders right now (ties: the one its shape
   * suggests), so registering `ns == "a" && tier == "db"` scans one namespace, not every db pod.
   */
  private chooseRestriction(node: SelectorNode): Restriction | undefined {
    let all = restrictionsOf(node);
    // The orchestrator label is on nearly everything: never worth indexing when something else is required.
    const narrower = all.filter((r) => keyScore(r.key) > 0);
    if (narrower.length > 0) all = narrower;
    if (all.length <= 1) return all[0];
    let best = all[0];
    let bestCount = this.candidateCount(best);
    for (const r of all.slice(1)) {
      const n = this.candidateCount(r);
      if (n < bestCount || (n === bestCount && better(best, r) === r)) { best = r; bestCount = n; }
    }
    return best;
  }

  private candidateHolders(r: Restriction | undefined): Iterable<string> {
    if (!r) return this.holders.keys();
    this.indexKey(r.key);
    const byValue = this.holdersByValue.get(r.key);
    if (!byValue) return EMPTY;
    if (r.values === null) {
      const out: string[] = [];
      for (const set of byValue.values()) for (const h of set) out.push(h);
      return out;
    }
    if (r.values.length === 1) return byValue.get(r.values[0]) ?? EMPTY;
    const out = new Set<string>();
    for (const v of r.values) for (const h of byValue.get(v) ?? EMPTY) out.add(h);
    return out;
  }

  /** Adds or replaces a selector; reports the pairs that start and stop matching. */
  setSelector(id: string, sel: Selector): void {
    const old = this.selectors.get(id);
    if (old && old.sel.canonical === sel.canonical) return;
    const restriction = this.chooseRestriction(sel.node);
    if (old) this.unfileSelector(id, old.restriction);
    const entry: SelectorEntry = { sel, restriction, matches: new Set() };
    this.selectors.set(id, entry);
    this.fileSelector(id, restriction);
    for (const h of this.candidateHolders(restriction)) {
      const holder = this.holders.get(h) as HolderEntry;
      this.evaluations++;
      if (sel.evaluate(holder.labels)) entry.matches.add(h);
    }
    const before = old?.matches ?? EMPTY;
    for (const h of before) {
      if (entry.matches.has(h)) continue;
      holderUnmatch(this.holders.get(h) as HolderEntry, id);
      this.events.onUnmatch(id, h);
    }
    for (const h of entry.matches) {
      if (before.has(h)) continue;
      holderMatch(this.holders.get(h) as HolderEntry, id);
      this.events.onMatch(id, h);
    }
  }

  deleteSelector(id: string): void {
    const old = this.selectors.get(id);
    if (!old) return;
    this.unfileSelector(id, old.restriction);
    this.selectors.delete(id);
    for (const h of old.matches) {
      holderUnmatch(this.holders.get(h) as HolderEntry, id);
      this.events.onUnmatch(id, h);
    }
  }

  private fileHolderLabel(id: string, k: string, v: string): void {
    let byValue = this.holdersByValue.get(k);
    if (!byValue) { byValue = new Map(); this.holdersByValue.set(k, byValue); }
    addTo(byValue, v, id);
  }

  private fileHolder(id: string, labels: Labels): void {
    for (const k of this.indexedKeys) {
      const v = labels[k];
      if (typeof v === 'string') this.fileHolderLabel(id, k, v);
    }
  }

  private unfileHolder(id: string, labels: Labels): void {
    for (const k of this.indexedKeys) {
      const v = labels[k];
      if (typeof v !== 'string') continue;
      const byValue = this.holdersByValue.get(k);
      if (byValue) {
        removeFrom(byValue, v, id);
        if (byValue.size === 0) this.holdersByValue.delete(k);
      }
    }
  }

  private candidateSelectors(labels: Labels): ReadonlySet<string> {
    if (this.selectors.size === 0) return EMPTY;
    const out = new Set<string>(this.unrestricted);
    for (const k in labels) {
      const byValue = this.selByValue.get(k);
      if (byValue) for (const s of byValue.get(labels[k]) ?? EMPTY) out.add(s);
      const byKey = this.selByKey.get(k);
      if (byKey) for (const s of byKey) out.add(s);
    }
    return out;
  }

  /**
   * Adds a holder or changes its labels; reports the pairs that start and stop matching. The labels object
   * is kept as given (not copied): callers hand over a fresh object and do not change it afterwards.
   */
  setHolder(id: string, labels: Labels): void {
    const old = this.holders.get(id);
    if (old && sameLabels(old.labels, labels)) return;
    if (old) this.unfileHolder(id, old.labels);
    const entry: HolderEntry = { labels, matches: undefined };
    this.holders.set(id, entry);
    this.fileHolder(id, entry.labels);
    for (const s of this.candidateSelectors(entry.labels)) {
      this.evaluations++;
      if ((this.selectors.get(s) as SelectorEntry).sel.evaluate(entry.labels)) holderMatch(entry, s);
    }
    const now = entry.matches ?? EMPTY;
    const before = old?.matches ?? EMPTY;
    for (const s of before) {
      if (now.has(s)) continue;
      (this.selectors.get(s) as SelectorEntry).matches.delete(id);
      this.events.onUnmatch(s, id);
    }
    for (const s of now) {
      if (before.has(s)) continue;
      (this.selectors.get(s) as SelectorEntry).matches.add(id);
      this.events.onMatch(s, id);
    }
  }

  deleteHolder(id: string): void {
    const old = this.holders.get(id);
    if (!old) return;
    this.unfileHolder(id, old.labels);
    this.holders.delete(id);
    for (const s of old.matches ?? EMPTY) {
      (this.selectors.get(s) as SelectorEntry).matches.delete(id);
      this.events.onUnmatch(s, id);
    }
  }
}
