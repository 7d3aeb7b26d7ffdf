// Tests for the selector language: matching semantics (table), parse errors with their columns, the
// canonical form (equal selectors print equal, printing is a fixed point), unique IDs checked against
// values from Calico's own test suite, and the helpers used for namespace scoping and indexing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  andSelectors,
  MAX_SELECTOR_LENGTH,
  parseSelector,
  quoteSelectorValue,
  SelectorParseError,
  selectorFromNode,
  selectorUsesGlobal,
} from './selector.ts';
import type { SelectorNode } from './selector.ts';
import { InvalidError } from '../lib/index.ts';

type Labels = Record<string, string>;

// [selector, labels, expected match]
const MATCH_CASES: Array<[string, Labels, boolean]> = [
  // equality
  ['a == "b"', { a: 'b' }, true],
  ['a == "b"', { a: 'b', c: 'd' }, true],
  ['a == "b"', { a: 'c' }, false],
  ['a == "b"', {}, false],
  ["a == 'b'", { a: 'b' }, true],
  ['a == ""', { a: '' }, true],
  ['a == ""', {}, false],
  // != is true when the label is absent
  ['a != "b"', {}, true],
  ['a != "b"', { a: 'c' }, true],
  ['a != "b"', { a: 'b' }, false],
  ["a!='b'", { a: 'b' }, false],
  // in / not in
  ['a in {"x", "y"}', { a: 'y' }, true],
  ['a in {"x", "y"}', { a: 'z' }, false],
  ['a in {"x", "y"}', {}, false],
  ['a in {"x"}', { a: 'x' }, true],
  ['a in {}', { a: 'x' }, false],
  ['a in {"\'", \'"\', "c"}', { a: '"' }, true],
  ['a in {"\'", \'"\', "c"}', { a: "'" }, true],
  ['a not in {"x", "y"}', {}, true],
  ['a not in {"x", "y"}', { a: 'z' }, true],
  ['a not in {"x", "y"}', { a: 'x' }, false],
  ['a not in {}', {}, true],
  ['a not in {}', { a: 'q' }, true],
  ['a not  \t in {"x"}', { a: 'x' }, false],
  ['a notin{"x"}', { a: 'y' }, true],
  ['a in {"x",}', { a: 'x' }, true],
  // has
  ['has(a)', { a: '' }, true],
  ['has(a)', { b: 'a' }, false],
  ['has( a )', { a: 'v' }, true],
  ['!has(a)', { b: 'b' }, true],
  ['!has(a)', { a: 'b' }, false],
  ['! has(a)', { a: 'b' }, false],
  ['!!has(a)', { a: 'b' }, true],
  ['!!!has(a)', { a: 'b' }, false],
  ['!! ! has(a)', { a: 'b' }, false],
  // substring operators need the label present
  ['a contains "b"', { a: 'abc' }, true],
  ['a contains "b"', { a: 'acd' }, false],
  ['a contains "b"', {}, false],
  ['a contains ""', { a: '' }, true],
  ['a contains ""', {}, false],
  ['a starts with "ab"', { a: 'abc' }, true],
  ['a starts with "ab"', { a: 'cab' }, false],
  ['a starts with "ab"', {}, false],
  ['a startswith "ab"', { a: 'ab' }, true],
  ['a starts   \twith "ab"', { a: 'abx' }, true],
  ['a ends with "bc"', { a: 'abc' }, true],
  ['a ends with "bc"', { a: 'bca' }, false],
  ['a ends with "bc"', {}, false],
  ['a endswith "c"', { a: 'abc' }, true],
  ['!a contains "b"', {}, true],
  // all(), global(), empty
  ['all()', {}, true],
  ['all()', { a: 'b' }, true],
  [' all( ) ', { a: 'b' }, true],
  ['!all()', {}, false],
  ['!all()', { a: 'b' }, false],
  ['global()', { a: 'b' }, true],
  ['', {}, true],
  ['', { a: 'b' }, true],
  ['   \t ', { a: 'b' }, true],
  // boolean operators and precedence: ! > && > ||
  ['a == "1" && b == "2"', { a: '1', b: '2' }, true],
  ['a == "1" && b == "2"', { a: '1' }, false],
  ['a == "1" || b == "2"', { b: '2' }, true],
  ['a == "1" || b == "2"', { a: '2', b: '1' }, false],
  ['a == "1" || b == "2" && c == "3"', { a: '1' }, true],
  ['a == "1" || b == "2" && c == "3"', { b: '2' }, false],
  ['(a == "1" || b == "2") && c == "3"', { a: '1' }, false],
  ['(a == "1" || b == "2") && c == "3"', { b: '2', c: '3' }, true],
  ['a == "1" && b == "2" || c == "3"', { c: '3' }, true],
  // "!" binds to one comparison, as Calico parses it
  ['!a == "x"', { a: 'x' }, false],
  ['!a == "x"', { a: 'y' }, true],
  ['!a == "x"', {}, true],
  ['!a == "1" && b == "2"', { a: '0', b: '2' }, true],
  ['!a == "1" && b == "2"', { a: '0' }, false],
  ['! a == "1" || ! b == "2"', { a: '1', b: '2' }, false],
  ['!a in {"x"}', { a: 'y' }, true],
  ['!(has(b) || !has(a))', { a: 'a' }, true],
  ['!(has(b) || !has(a))', { a: 'a', b: 'b' }, false],
  ['!(a == "1" && b == "2")', { a: '1' }, true],
  ['((((a == "1"))))', { a: '1' }, true],
  // whitespace variants
  ['a=="b"&&c=="d"', { a: 'b', c: 'd' }, true],
  ['\ta  ==  "b"\t||\tc == "d"', { c: 'd' }, true],
  ['a in{"x","y"}', { a: 'x' }, true],
  // labels with dots, slashes, dashes; operator words are labels when not after a label
  ['projectcalico.org/namespace == "default"', { 'projectcalico.org/namespace': 'default' }, true],
  ['kubernetes.io/metadata.name in {"kube-system"}', { 'kubernetes.io/metadata.name': 'kube-system' }, true],
  ['pcns.app_name-1 == "web"', { 'pcns.app_name-1': 'web' }, true],
  ['in == "x"', { in: 'x' }, true],
  ['contains contains "x"', { contains: 'axb' }, true],
  ['has == "x"', { has: 'x' }, true],
  ['all == "x"', { all: 'x' }, true],
  // names inherited from Object.prototype are not labels
  ['has(constructor)', {}, false],
  ['has(toString)', {}, false],
  ['constructor != "x"', {}, true],
  ['__proto__ not in {"x"}', {}, true],
];

// [selector, column, detail]
const ERROR_CASES: Array<[string, number, string]> = [
  ['== "a"', 1, 'expected a label name, found "=="'],
  ['a == "x', 6, 'unterminated string starting at column 6'],
  ["a == 'x", 6, 'unterminated string starting at column 6'],
  ['a == "x\'', 6, 'unterminated string starting at column 6'],
  ['a "x"', 3, 'expected an operator (==, !=, in, not in, contains, starts with, ends with) after label "a", found string "x"'],
  ['a', 2, 'expected an operator (==, !=, in, not in, contains, starts with, ends with) after label "a", found end of selector'],
  ['a b', 3, 'expected an operator (==, !=, in, not in, contains, starts with, ends with) after label "a", found "b"'],
  ['a@b == "x"', 2, 'expected an operator (==, !=, in, not in, contains, starts with, ends with) after label "a", found "@"'],
  ['a instance {"x"}', 3, 'expected an operator (==, !=, in, not in, contains, starts with, ends with) after label "a", found "instance"'],
  ['a starts "x"', 3, 'expected an operator (==, !=, in, not in, contains, starts with, ends with) after label "a", found "starts"'],
  ['a IN {"x"}', 3, 'expected an operator (==, !=, in, not in, contains, starts with, ends with) after label "a", found "IN"'],
  ['%', 1, 'unexpected character "%"'],
  ['a == "b" && %', 13, 'unexpected character "%"'],
  ['a == "b"\n', 9, 'unexpected character "\\n"'],
  ['a = "x"', 3, 'expected "==", found "="'],
  ['a == "x" & b == "y"', 10, 'expected "&&", found "&"'],
  ['a == "x" | b == "y"', 10, 'expected "||", found "|"'],
  ['a == b', 6, 'expected a quoted string after "==", found label "b"'],
  ['a contains b', 12, 'expected a quoted string after "contains", found label "b"'],
  ['a starts with b', 15, 'expected a quoted string after "starts with", found label "b"'],
  ['a != ||', 6, 'expected a quoted string after "!=", found "||"'],
  ["'b1' == b", 1, "expected a label name, found string 'b1'"],
  ['a in "x"', 6, 'expected "{" after "in", found string "x"'],
  ['a not in ("x")', 10, 'expected "{" after "not in", found "("'],
  ['a in {"x" "y"}', 11, 'expected "," or "}" in the set opened at column 6, found string "y"'],
  ['a in {"x", ||', 12, 'expected a quoted string or "}" in the set opened at column 6, found "||"'],
  ['a in {,}', 7, 'expected a quoted string or "}" in the set opened at column 6, found ","'],
  ['a in {"x"', 10, 'expected "," or "}" in the set opened at column 6, found end of selector'],
  ['a == "1" &&', 12, 'expected a label name, found end of selector'],
  ['has(foo) && ', 13, 'expected a label name, found end of selector'],
  ['a == "1" ||  ', 14, 'expected a label name, found end of selector'],
  ['a == "1" b == "2"', 10, 'expected "&&", "||" or end of selector, found label "b"'],
  ['!', 2, 'expected a label name, found end of selector'],
  ['(', 2, 'expected a label name, found end of selector'],
  ['(a == "foo"', 12, 'expected ")" to close "(" at column 1, found end of selector'],
  ['a && (b == "1"', 3, 'expected an operator (==, !=, in, not in, contains, starts with, ends with) after label "a", found "&&"'],
  ['x == "1" && (b == "1"', 22, 'expected ")" to close "(" at column 13, found end of selector'],
  ['(a == "1" b == "2")', 11, 'expected "&&", "||" or ")" to close "(" at column 1, found label "b"'],
  [')', 1, 'expected a label name, found ")"'],
  ['a == "1")', 9, 'unexpected ")" with no matching "("'],
  ['()', 2, 'expected an expression inside "(" at column 1, found ")"'],
  ['a == "1" && ( )', 15, 'expected an expression inside "(" at column 13, found ")"'],
  ['has()', 5, 'expected a label name inside "has(", found ")"'],
  ['has(a', 6, 'expected ")" to close "has(" at column 1, found end of selector'],
  ['has(a b)', 7, 'expected ")" to close "has(" at column 1, found "b"'],
  ['has(a%)', 6, 'expected ")" to close "has(" at column 1, found "%"'],
  ['has (a)', 5, 'expected an operator (==, !=, in, not in, contains, starts with, ends with) after label "has", found "(" (write "has(" with no space before "(")'],
  ['all(x)', 5, 'expected ")" after "all(", found "x"'],
  ['global(', 8, 'expected ")" after "global(", found end of selector'],
  ['a == "1" && !', 14, 'expected a label name, found end of selector'],
];

// [input, canonical]
const CANONICAL_CASES: Array<[string, string]> = [
  ['', 'all()'],
  [' all() ', 'all()'],
  [' (all() )', 'all()'],
  ['global()', 'global()'],
  ['! (has( b)||! has(a ))', '!(has(b) || !has(a))'],
  ["a == 'b'", 'a == "b"'],
  ['a == "\'"', 'a == "\'"'],
  ["a == '\"'", "a == '\"'"],
  ["a contains '\"'", "a contains '\"'"],
  ["a startswith '\"'", "a starts with '\"'"],
  ['a endswith "\'"', 'a ends with "\'"'],
  ["a!='\"'", "a != '\"'"],
  ['a in {"d", "a", "b"}', 'a in {"a", "b", "d"}'],
  ['a in {"z", "z", "x", "y", "x", "a"}', 'a in {"a", "x", "y", "z"}'],
  ["a not in {'y','x','x'}", 'a not in {"x", "y"}'],
  ['a in {}', 'a in {}'],
  ['a notin {"x",}', 'a not in {"x"}'],
  ['!has(a)', '!has(a)'],
  ['!!has(a)', 'has(a)'],
  ['!(!has(a))', 'has(a)'],
  ['!all()', '!all()'],
  ['!a == "1"', '!(a == "1")'],
  ['!(a == "1")', '!(a == "1")'],
  ['!a in {"x"}', '!(a in {"x"})'],
  ['a == "1" && b == "2"', '(a == "1" && b == "2")'],
  ['a == "1" || b == "2" && c == "3"', '(a == "1" || (b == "2" && c == "3"))'],
  ['(a == "1" && b == "2") && c == "3"', '(a == "1" && b == "2" && c == "3")'],
  ['a == "1" && (b == "2" && (c == "3" && d == "4"))', '(a == "1" && b == "2" && c == "3" && d == "4")'],
  ['(a == "1" || b == "2") || c == "3"', '(a == "1" || b == "2" || c == "3")'],
  ['!(a == "1" && b == "2")', '!(a == "1" && b == "2")'],
  ['! (a == "b"&&! c != "d")', '!(a == "b" && !(c != "d"))'],
  ['projectcalico.org/namespace == "ns1" && has(pcsa.app)', '(projectcalico.org/namespace == "ns1" && has(pcsa.app))'],
];

// Each group: different spellings of one selector.
const EQUAL_GROUPS: string[][] = [
  ['a == "b"', "a=='b'", '  a ==\t"b" ', '(a == "b")', '((a == "b"))', '!!a == "b"'],
  ['a in {"x", "y"}', "a in {'y','x'}", 'a in {"y", "x", "y"}', 'a in{"x","y",}'],
  ['a not in {"x"}', 'a notin {"x"}', 'a not   in {"x"}'],
  ['a starts with "p"', 'a startswith "p"', "a starts \t with 'p'"],
  ['', ' ', 'all()', '(all())', 'all( )'],
  ['a == "1" && b == "2" && c == "3"', '(a == "1" && b == "2") && c == "3"', 'a == "1" && (b == "2" && c == "3")'],
  ['!has(a)', '! has(a)', '!!!has(a)', '!(!(!has( a )))'],
];

function parseErr(text: string): SelectorParseError {
  try {
    parseSelector(text);
  } catch (e) {
    assert.ok(e instanceof SelectorParseError, `expected SelectorParseError for ${JSON.stringify(text)}, got ${String(e)}`);
    return e;
  }
  assert.fail(`expected ${JSON.stringify(text)} to be rejected`);
}

test('selectors match label sets with Calico semantics', () => {
  for (const [text, labels, expected] of MATCH_CASES) {
    const sel = parseSelector(text);
    assert.equal(sel.evaluate(labels), expected, `${JSON.stringify(text)} against ${JSON.stringify(labels)}`);
    // The canonical form must select exactly the same label sets.
    assert.equal(parseSelector(sel.canonical).evaluate(labels), expected, `canonical ${JSON.stringify(sel.canonical)} of ${JSON.stringify(text)}`);
  }
  assert.ok(MATCH_CASES.length >= 60);
});

test('invalid selectors are rejected with the column of the problem', () => {
  for (const [text, column, detail] of ERROR_CASES) {
    const err = parseErr(text);
    assert.equal(err.detail, detail, `detail for ${JSON.stringify(text)}`);
    assert.equal(err.column, column, `column for ${JSON.stringify(text)} (${err.message})`);
    assert.equal(err.message, `invalid selector at column ${column}: ${detail}`);
    assert.equal(err.source, text);
    assert.equal(err.code, 'E_INVALID');
    assert.ok(err instanceof InvalidError);
  }
});

test('selector length is limited to 1024 characters', () => {
  const fits = `a == "${'x'.repeat(MAX_SELECTOR_LENGTH - 7)}"`;
  assert.equal(fits.length, MAX_SELECTOR_LENGTH);
  assert.equal(parseSelector(fits).evaluate({ a: 'x'.repeat(MAX_SELECTOR_LENGTH - 7) }), true);
  const tooLong = `a == "${'x'.repeat(MAX_SELECTOR_LENGTH - 6)}"`;
  const err = parseErr(tooLong);
  assert.equal(err.column, 1025);
  assert.equal(err.detail, 'selector is 1025 characters long, the maximum is 1024');
  assert.equal(parseSelector(tooLong, { maxLength: 2048 }).node.op, 'eq');
});

test('label names are limited to 512 characters', () => {
  const ok = 'l'.repeat(512);
  assert.equal(parseSelector(`has(${ok})`).evaluate({ [ok]: '' }), true);
  const long = 'l'.repeat(513);
  const e1 = parseErr(`x == "1" && ${long} == "v"`);
  assert.equal(e1.column, 13);
  assert.match(e1.detail, /^label name "l+…" is 513 characters long, the maximum is 512$/);
  const e2 = parseErr(`has( ${long})`);
  assert.equal(e2.column, 6);
  assert.match(e2.detail, /is 513 characters long/);
});

test('deep nesting gives an error, not a stack overflow', () => {
  const nested = (n: number) => `${'('.repeat(n)}a == "1"${')'.repeat(n)}`;
  assert.equal(parseSelector(nested(100)).canonical, 'a == "1"');
  const err = parseErr(nested(101));
  assert.equal(err.column, 101);
  assert.equal(err.detail, 'parentheses nested more than 100 levels deep');
  // Long runs of "!" and long flat chains are loops, not recursion.
  assert.equal(parseSelector(`${'!'.repeat(501)}has(a)`).canonical, '!has(a)');
  const chain = Array.from({ length: 60 }, (_, i) => `l${i} == "v"`).join(' && ');
  const sel = parseSelector(chain);
  assert.equal(sel.node.op, 'and');
  assert.equal((sel.node as { exprs: SelectorNode[] }).exprs.length, 60);
});

test('canonical forms', () => {
  for (const [input, canonical] of CANONICAL_CASES) {
    const sel = parseSelector(input);
    assert.equal(sel.canonical, canonical, `canonical of ${JSON.stringify(input)}`);
    assert.equal(sel.source, input);
  }
});

test('the canonical form is a fixed point for every valid selector in these tables', () => {
  const all = [...MATCH_CASES.map((c) => c[0]), ...CANONICAL_CASES.map((c) => c[0]), ...EQUAL_GROUPS.flat()];
  for (const text of all) {
    const sel = parseSelector(text);
    const again = parseSelector(sel.canonical);
    assert.equal(again.canonical, sel.canonical, `fixed point for ${JSON.stringify(text)}`);
    assert.deepEqual(again.node, sel.node);
    assert.equal(again.uniqueId, sel.uniqueId);
  }
});

test('equal selectors written differently get equal canonical forms and unique IDs', () => {
  const seen = new Map<string, number>();
  EQUAL_GROUPS.forEach((group, gi) => {
    const first = parseSelector(group[0]);
    for (const text of group.slice(1)) {
      const sel = parseSelector(text);
      assert.equal(sel.canonical, first.canonical, `${JSON.stringify(text)} vs ${JSON.stringify(group[0])}`);
      assert.equal(sel.uniqueId, first.uniqueId);
    }
    // Different groups must stay different.
    assert.equal(seen.get(first.uniqueId), undefined, `group ${gi} collides with group ${seen.get(first.uniqueId)}`);
    seen.set(first.uniqueId, gi);
  });
});

test('unique IDs agree with the values in Calico\'s parser tests', () => {
  // From libcalico-go/lib/selector/parser/parser_test.go (canonicalisationTests).
  assert.equal(parseSelector('').uniqueId, 's:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug');
  assert.equal(parseSelector(' (all() )').uniqueId, 's:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug');
  assert.equal(parseSelector('! (has( b)||! has(a ))').uniqueId, 's:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q');
  assert.match(parseSelector('a == "b"').uniqueId, /^s:[A-Za-z0-9_-]{38}$/);
});

test('AST shape: sets sorted and deduped, groups flattened, not collapsed', () => {
  assert.deepEqual(parseSelector('a in {"b", "a", "b", "C"}').node, { op: 'in', label: 'a', values: ['C', 'a', 'b'] });
  assert.deepEqual(parseSelector('k not in {}').node, { op: 'notIn', label: 'k', values: [] });
  assert.deepEqual(parseSelector('a == "1" || (b == "2" || has(c)) && !d contains "x"').node, {
    op: 'or',
    exprs: [
      { op: 'eq', label: 'a', value: '1' },
      {
        op: 'and',
        exprs: [
          { op: 'or', exprs: [{ op: 'eq', label: 'b', value: '2' }, { op: 'has', label: 'c' }] },
          { op: 'not', expr: { op: 'contains', label: 'd', value: 'x' } },
        ],
      },
    ],
  });
  assert.deepEqual(parseSelector('x ends  with "z"').node, { op: 'endsWith', label: 'x', value: 'z' });
  assert.ok(Object.isFrozen(parseSelector('a == "1" && b == "2"').node));
});

test('labelsUsed lists each referenced label once, sorted', () => {
  const sel = parseSelector('z == "1" && (has(a) || !m in {"x"}) && a != "2" && !has(z) || all()');
  assert.deepEqual(sel.labelsUsed(), ['a', 'm', 'z']);
  assert.deepEqual(parseSelector('all()').labelsUsed(), []);
  // The caller gets its own copy.
  sel.labelsUsed().push('q');
  assert.deepEqual(sel.labelsUsed(), ['a', 'm', 'z']);
});

test('selectorUsesGlobal finds global() at any depth', () => {
  assert.equal(selectorUsesGlobal(parseSelector('global()').node), true);
  assert.equal(selectorUsesGlobal(parseSelector('a == "1" || !(b == "2" && global())').node), true);
  assert.equal(selectorUsesGlobal(parseSelector('all() && has(global)').node), false);
});

test('parseSelector memoises: the same text gives the same object', () => {
  const a = parseSelector('memo == "1"');
  assert.equal(parseSelector('memo == "1"'), a);
  assert.notEqual(parseSelector('memo == "2"'), a);
  // evaluate works detached from its selector, as the calc graph passes it around.
  const f = a.evaluate;
  assert.equal(f({ memo: '1' }), true);
  assert.equal(String(a), 'memo == "1"');
});

test('the parse cache stays bounded and still returns correct selectors after eviction', () => {
  const first = parseSelector('evict == "0"');
  for (let i = 1; i <= 10_050; i++) parseSelector(`evict == "${i}"`);
  const again = parseSelector('evict == "0"');
  assert.notEqual(again, first, 'the oldest entry should have been evicted');
  assert.equal(again.canonical, first.canonical);
  assert.equal(again.evaluate({ evict: '0' }), true);
});

test('selectorFromNode normalises and derives canonical and uniqueId', () => {
  const sel = selectorFromNode({
    op: 'and',
    exprs: [
      { op: 'and', exprs: [{ op: 'eq', label: 'a', value: 'x"y' }] },
      { op: 'not', expr: { op: 'not', expr: { op: 'in', label: 'b', values: ['2', '1', '2'] } } },
      { op: 'not', expr: { op: 'has', label: 'c' } },
    ],
  });
  assert.equal(sel.canonical, `(a == 'x"y' && b in {"1", "2"} && !has(c))`);
  assert.equal(sel.source, sel.canonical);
  assert.equal(sel.uniqueId, parseSelector(sel.canonical).uniqueId);
  assert.equal(sel.evaluate({ a: 'x"y', b: '1' }), true);
  assert.equal(sel.evaluate({ a: 'x"y', b: '1', c: '' }), false);
  assert.equal(selectorFromNode({ op: 'and', exprs: [] }).canonical, 'all()');
  const none = selectorFromNode({ op: 'or', exprs: [] });
  assert.equal(none.canonical, '!all()');
  assert.equal(none.evaluate({}), false);
  assert.throws(() => selectorFromNode({ op: 'has', label: 'bad label' }), RangeError);
  assert.throws(() => selectorFromNode({ op: 'eq', label: 'a', value: `both ' and "` }), /both quote characters/);
});

test('andSelectors ANDs parts and ignores all() and empty parts', () => {
  const scoped = andSelectors('app == "web" || app == "db"', "projectcalico.org/namespace == 'ns1'");
  assert.equal(scoped.canonical, '((app == "web" || app == "db") && projectcalico.org/namespace == "ns1")');
  assert.equal(scoped.evaluate({ app: 'db', 'projectcalico.org/namespace': 'ns1' }), true);
  assert.equal(scoped.evaluate({ app: 'db', 'projectcalico.org/namespace': 'ns2' }), false);
  // Nested ANDs flatten; Selector objects and strings mix.
  const s = andSelectors(parseSelector('a == "1" && b == "2"'), 'c == "3"', '', 'all()');
  assert.equal(s.canonical, '(a == "1" && b == "2" && c == "3")');
  // A single remaining part comes back unchanged, nothing left is all().
  const only = parseSelector('has(x)');
  assert.equal(andSelectors('', only, ' all() '), only);
  assert.equal(andSelectors().canonical, 'all()');
  assert.equal(andSelectors('', 'all()').evaluate({}), true);
  // global() is kept: only all() is neutral.
  assert.equal(andSelectors('global()', 'all()').canonical, 'global()');
  // Parts may be longer than the user-facing limit, since the composition is internal.
  const big = `a in {${Array.from({ length: 120 }, (_, i) => `"value-${i}"`).join(',')}}`;
  assert.ok(big.length > MAX_SELECTOR_LENGTH);
  assert.equal(andSelectors(big, 'b == "1"').evaluate({ a: 'value-7', b: '1' }), true);
  assert.throws(() => andSelectors('a ==', 'b == "1"'), SelectorParseError);
});

test('quoteSelectorValue picks the quote the value does not contain', () => {
  assert.equal(quoteSelectorValue('plain'), '"plain"');
  assert.equal(quoteSelectorValue("it's"), `"it's"`);
  assert.equal(quoteSelectorValue('say "hi"'), `'say "hi"'`);
  assert.equal(quoteSelectorValue(''), '""');
  assert.throws(() => quoteSelectorValue(`"'`), RangeError);
  for (const v of ['plain', "it's", 'say "hi"', '', ' spaced && (x) ']) {
    assert.equal(parseSelector(`k == ${quoteSelectorValue(v)}`).evaluate({ k: v }), true, v);
  }
});
