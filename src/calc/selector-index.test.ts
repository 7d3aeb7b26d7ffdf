// The selector index against brute force: random selectors and holders, random changes, and after every
// step the reported match events must add up to exactly the pairs that evaluate true. Also checks that
// the label index keeps evaluations far below selectors × holders.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSelector } from '../model/index.ts';
import type { Labels } from '../model/index.ts';
import { restrictionOf, SelectorIndex } from './selector-index.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('restrictionOf picks a required label, preferring values and user keys', () => {
  const r = (t: string) => restrictionOf(parseSelector(t).node);
  assert.deepEqual(r('app == "a"'), { key: 'app', values: ['a'] });
  assert.deepEqual(r('projectcalico.org/orchestrator == "k8s" && projectcalico.org/namespace == "x" && pod in {"a", "b"}'), { key: 'pod', values: ['a', 'b'] });
  assert.deepEqual(r('projectcalico.org/orchestrator == "k8s" && projectcalico.org/namespace == "x"'), { key: 'projectcalico.org/namespace', values: ['x'] });
  assert.deepEqual(r('has(team) && env != "prod"'), { key: 'team', values: null });
  assert.equal(r('a == "1" || b == "2"'), undefined);
  assert.equal(r('!has(a)'), undefined);
  assert.equal(r('all()'), undefined);
});

test('matches always equal brute-force evaluation, through random changes', () => {
  const rand = rng(7);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const texts = [
    'app == "a"', 'app in {"a", "b"}', 'has(tier)', 'app == "a" && tier == "1"', '!has(app)', 'app != "a"',
    'app == "a" || tier == "2"', 'all()', 'app in {}', 'tier starts with "1"', 'env == "x" && has(app)', 'app contains "b"',
  ];
  const pairs = new Set<string>();
  const idx = new SelectorIndex({
    onMatch: (s, h) => { assert.ok(!pairs.has(`${s}|${h}`), `double match ${s} ${h}`); pairs.add(`${s}|${h}`); },
    onUnmatch: (s, h) => { assert.ok(pairs.delete(`${s}|${h}`), `unmatch without match ${s} ${h}`); },
  });
  const sels = new Map<string, string>();
  const holders = new Map<string, Labels>();
  const randomLabels = (): Labels => {
    const l: Labels = {};
    if (rand() < 0.7) l.app = pick(['a', 'b', 'c', 'ab']);
    if (rand() < 0.5) l.tier = pick(['1', '2', '10']);
    if (rand() < 0.5) l.env = pick(['x', 'y']);
    return l;
  };
  for (let step = 0; step < 600; step++) {
    const r = rand();
    if (r < 0.25) {
      const id = `s${Math.floor(rand() * 8)}`;
      const t = pick(texts);
      sels.set(id, t);
      idx.setSelector(id, parseSelector(t));
    } else if (r < 0.33) {
      const id = `s${Math.floor(rand() * 8)}`;
      sels.delete(id);
      idx.deleteSelector(id);
    } else if (r < 0.85) {
      const id = `h${Math.floor(rand() * 20)}`;
      const l = randomLabels();
      holders.set(id, l);
      idx.setHolder(id, l);
    } else {
      const id = `h${Math.floor(rand() * 20)}`;
      holders.delete(id);
      idx.deleteHolder(id);
    }
    const want = new Set<string>();
    for (const [s, t] of sels) for (const [h, l] of holders) if (parseSelector(t).evaluate(l)) want.add(`${s}|${h}`);
    assert.deepEqual([...pairs].sort(), [...want].sort(), `step ${step}`);
    for (const [s] of sels) assert.deepEqual([...idx.matchesOfSelector(s)].sort(), [...want].filter((p) => p.startsWith(`${s}|`)).map((p) => p.split('|')[1]).sort());
  }
});

test('a label change evaluates only the selectors filed under its labels', () => {
  const idx = new SelectorIndex({ onMatch: () => {}, onUnmatch: () => {} });
  for (let i = 0; i < 1000; i++) idx.setSelector(`s${i}`, parseSelector(`projectcalico.org/namespace == "ns${i % 100}" && app == "app${i}"`));
  for (let i = 0; i < 1000; i++) idx.setHolder(`h${i}`, { 'projectcalico.org/namespace': `ns${i % 100}`, app: `app${i}` });
  assert.ok(idx.evaluations < 5000, `resync evaluated ${idx.evaluations} pairs, not 1,000,000`);
  const before = idx.evaluations;
  idx.setHolder('h5', { 'projectcalico.org/namespace': 'ns5', app: 'app6' });
  assert.ok(idx.evaluations - before <= 2, `a label change evaluated ${idx.evaluations - before} selectors`);
  assert.deepEqual([...idx.matchesOfHolder('h5')], []);
  idx.setHolder('h5', { 'projectcalico.org/namespace': 'ns6', app: 'app6' });
  assert.deepEqual([...idx.matchesOfHolder('h5')], ['s6']);
  const still = idx.evaluations;
  idx.setHolder('h5', { app: 'app6', 'projectcalico.org/namespace': 'ns6' });
  assert.equal(idx.evaluations, still, 'identical labels: no work');
});
