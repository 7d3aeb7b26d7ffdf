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

/** The most useful label the selector requires, or undefined when it requires none. */
export function restrictionOf(node: SelectorNode): Restriction | undefined {
  switch (node.op) {
    case 'eq': return { key: node.label, values: [node.value] };
    case 'in': return { key: node.label, values: [...node.values] };
    case 'has': case 'contains': case 'startsWith': case 'endsWith':
      return { key: node.label, values: null };
    case 'and': {
      let best: Restriction | undefined;
      for (const e of node.exprs) {
        const r = restrictionOf(e);
        if (r) best = best ? better(best, r) : r;
      }
      return best;
    }
    default:
      return undefined;
  }
}

interface SelectorEntry {
  sel: Selector;
  restriction: Restriction | undefined;
  matches: Set<string>;
}

interface HolderEntry {
  labels: Labels;
  matches: Set<string>;
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
  private readonly holdersByKey = new Map<string, Set<string>>();
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

  private candidateHolders(r: Restriction | undefined): Iterable<string> {
    if (!r) return this.holders.keys();
    if (r.values === null) return this.holdersByKey.get(r.key) ?? EMPTY;
    const byValue = this.holdersByValue.get(r.key);
    if (!byValue) return EMPTY;
    if (r.values.length === 1) return byValue.get(r.values[0]) ?? EMPTY;
    const out = new Set<string>();
    for (const v of r.values) for (const h of byValue.get(v) ?? EMPTY) out.add(h);
    return out;
  }

  /** Adds or replaces a selector; reports the pairs that start and stop matching. */
  setSelector(id: string, sel: Selector): void {
    const old = this.selectors.get(id);
    if (old && old.sel.canonical === sel.canonical) return;
    const restriction = restrictionOf(sel.node);
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
      (this.holders.get(h) as HolderEntry).matches.delete(id);
      this.events.onUnmatch(id, h);
    }
    for (const h of entry.matches) {
      if (before.has(h)) continue;
      (this.holders.get(h) as HolderEntry).matches.add(id);
      this.events.onMatch(id, h);
    }
  }

  deleteSelector(id: string): void {
    const old = this.selectors.get(id);
    if (!old) return;
    this.unfileSelector(id, old.restriction);
    this.selectors.delete(id);
    for (const h of old.matches) {
      (this.holders.get(h) as HolderEntry).matches.delete(id);
      this.events.onUnmatch(id, h);
    }
  }

  private fileHolder(id: string, labels: Labels): void {
    for (const [k, v] of Object.entries(labels)) {
      let byValue = this.holdersByValue.get(k);
      if (!byValue) { byValue = new Map(); this.holdersByValue.set(k, byValue); }
      addTo(byValue, v, id);
      addTo(this.holdersByKey, k, id);
    }
  }

  private unfileHolder(id: string, labels: Labels): void {
    for (const [k, v] of Object.entries(labels)) {
      const byValue = this.holdersByValue.get(k);
      if (byValue) {
        removeFrom(byValue, v, id);
        if (byValue.size === 0) this.holdersByValue.delete(k);
      }
      removeFrom(this.holdersByKey, k, id);
    }
  }

  private candidateSelectors(labels: Labels): Set<string> {
    const out = new Set<string>(this.unrestricted);
    for (const [k, v] of Object.entries(labels)) {
      for (const s of this.selByValue.get(k)?.get(v) ?? EMPTY) out.add(s);
      for (const s of this.selByKey.get(k) ?? EMPTY) out.add(s);
    }
    return out;
  }

  /** Adds a holder or changes its labels; reports the pairs that start and stop matching. */
  setHolder(id: string, labels: Labels): void {
    const old = this.holders.get(id);
    if (old && sameLabels(old.labels, labels)) return;
    if (old) this.unfileHolder(id, old.labels);
    const entry: HolderEntry = { labels: { ...labels }, matches: new Set() };
    this.holders.set(id, entry);
    this.fileHolder(id, entry.labels);
    for (const s of this.candidateSelectors(entry.labels)) {
      this.evaluations++;
      if ((this.selectors.get(s) as SelectorEntry).sel.evaluate(entry.labels)) entry.matches.add(s);
    }
    const before = old?.matches ?? EMPTY;
    for (const s of before) {
      if (entry.matches.has(s)) continue;
      (this.selectors.get(s) as SelectorEntry).matches.delete(id);
      this.events.onUnmatch(s, id);
    }
    for (const s of entry.matches) {
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
    for (const s of old.matches) {
      (this.selectors.get(s) as SelectorEntry).matches.delete(id);
      this.events.onUnmatch(s, id);
    }
  }
}
