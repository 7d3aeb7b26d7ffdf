// Calico's label-selector language: parse text into an AST, print its canonical form (whose hash is the
// selector's unique ID, used to name and dedupe IP sets), and compile it once into a closure that the calc
// graph calls for every (selector, label set) pair. Policy validation, namespace scoping (andSelectors) and
// the calc graph's selector index all build on this file; it has no I/O and no dependencies beyond node:crypto.
// Semantics follow libcalico-go/lib/selector (see reference/calico.md §3.5); the printer departs from Calico
// only in writing a negated comparison as `!(k == "v")` (Calico prints `!k == "v"`) and in flattening groups.

import { createHash } from 'node:crypto';
import { InvalidError } from '../lib/index.ts';

export type SelectorNode =
  | { op: 'all' }
  | { op: 'global' }
  | { op: 'eq' | 'ne' | 'contains' | 'startsWith' | 'endsWith'; label: string; value: string }
  | { op: 'in' | 'notIn'; label: string; values: string[] }
  | { op: 'has'; label: string }
  | { op: 'not'; expr: SelectorNode }
  | { op: 'and' | 'or'; exprs: SelectorNode[] };

export interface Selector {
  /** The text as given (for programmatically built selectors: the canonical form). */
  readonly source: string;
  readonly node: SelectorNode;
  /** Canonical text: selectors that differ only in spelling print the same; parsing it gives it back. */
  readonly canonical: string;
  /** `s:` + base64url(SHA-224(`s:` + canonical)), as Calico computes it. */
  readonly uniqueId: string;
  evaluate(labels: Readonly<Record<string, string>>): boolean;
  /** Label keys the selector mentions, sorted and unique. */
  labelsUsed(): string[];
}

/** Longest selector text parseSelector accepts by default (Calico's validation limit). */
export const MAX_SELECTOR_LENGTH = 1024;
/** Longest label name (Calico's tokenizer limit). */
export const MAX_LABEL_LENGTH = 512;
/** Deepest parenthesis nesting accepted; deeper input gets an error instead of a stack overflow. */
export const MAX_SELECTOR_NESTING = 100;
const CACHE_LIMIT = 10_000;

/**
 * A selector that does not parse. `column` is 1-based into `source`, so a caret can be printed under it.
 * It is an InvalidError (code E_INVALID) so that callers reporting bad input treat it like other validation failures.
 */
export class SelectorParseError extends InvalidError {
  readonly column: number;
  readonly detail: string;
  readonly source: string;
  constructor(source: string, column: number, detail: string) {
    super('', `invalid selector at column ${column}: ${detail}`);
    this.name = 'SelectorParseError';
    this.column = column;
    this.detail = detail;
    this.source = source;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Lexer. Tokens are produced on demand so that the first error in reading order is the one reported.
// Like Calico's tokenizer, operator words (in, not in, contains, starts with, ends with) are only recognised
// directly after a label, so a label may itself be called `in` or `contains`.

type TokKind =
  | 'label' | 'string' | '{' | '}' | ',' | '==' | '!=' | '!' | '&&' | '||' | '(' | ')'
  | 'in' | 'not in' | 'contains' | 'starts with' | 'ends with' | 'has' | 'all' | 'global' | 'eof';

interface Token {
  kind: TokKind;
  /** label name, string value, or has()'s label; '' otherwise. */
  value: string;
  /** the source text of the token. */
  text: string;
  /** 0-based offset into the source. */
  start: number;
}

const LABEL_CHAR = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-') LABEL_CHAR[c.charCodeAt(0)] = 1;
function isLabelChar(code: number): boolean {
  return code < 128 && LABEL_CHAR[code] === 1;
}
function isSpace(code: number): boolean {
  return code === 32 || code === 9;
}

const OPERATOR_LIST = '==, !=, in, not in, contains, starts with, ends with';

function clip(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
function quote(s: string): string {
  return JSON.stringify(clip(s));
}

class Lexer {
  readonly src: string;
  pos = 0;
  private peeked: Token | null = null;
  private prev: Token | null = null;

  constructor(src: string) {
    this.src = src;
  }

  peek(): Token {
    if (this.peeked === null) this.peeked = this.lex();
    return this.peeked;
  }

  next(): Token {
    const t = this.peek();
    this.peeked = null;
    return t;
  }

  fail(offset: number, detail: string): never {
    throw new SelectorParseError(this.src, offset + 1, detail);
  }

  private skipSpaces(p: number): number {
    const s = this.src;
    while (p < s.length && isSpace(s.charCodeAt(p))) p++;
    return p;
  }

  private labelEnd(p: number): number {
    const s = this.src;
    while (p < s.length && isLabelChar(s.charCodeAt(p))) p++;
    return p;
  }

  /** What the input holds at `p`, for "found ..." in messages. */
  describeAt(p: number): string {
    const s = this.src;
    if (p >= s.length) return 'end of selector';
    const end = this.labelEnd(p);
    if (end > p) return quote(s.slice(p, end));
    const two = s.slice(p, p + 2);
    if (two === '==' || two === '!=' || two === '&&' || two === '||') return quote(two);
    return quote(String.fromCodePoint(s.codePointAt(p) ?? 0));
  }

  private checkLabel(start: number, end: number): string {
    const label = this.src.slice(start, end);
    if (label.length > MAX_LABEL_LENGTH) {
      this.fail(start, `label name ${quote(label)} is ${label.length} characters long, the maximum is ${MAX_LABEL_LENGTH}`);
    }
    return label;
  }

  private tok(kind: TokKind, start: number, end: number, value = ''): Token {
    this.pos = end;
    const t: Token = { kind, value, text: this.src.slice(start, end), start };
    this.prev = t;
    return t;
  }

  private lex(): Token {
    const s = this.src;
    const p = this.skipSpaces(this.pos);
    if (p >= s.length) return this.tok('eof', s.length, s.length);
    const c = s[p];
    switch (c) {
      case '(': case ')': case '{': case '}': case ',':
        return this.tok(c, p, p + 1);
      case '"': case "'": {
        const close = s.indexOf(c, p + 1);
        if (close < 0) this.fail(p, `unterminated string starting at column ${p + 1}`);
        return this.tok('string', p, close + 1, s.slice(p + 1, close));
      }
      case '=':
        if (s[p + 1] === '=') return this.tok('==', p, p + 2);
        return this.fail(p, `expected "==", found "="`);
      case '!':
        if (s[p + 1] === '=') return this.tok('!=', p, p + 2);
        return this.tok('!', p, p + 1);
      case '&':
        if (s[p + 1] === '&') return this.tok('&&', p, p + 2);
        return this.fail(p, `expected "&&", found "&"`);
      case '|':
        if (s[p + 1] === '|') return this.tok('||', p, p + 2);
        return this.fail(p, `expected "||", found "|"`);
    }
    if (this.prev !== null && this.prev.kind === 'label') return this.lexOperatorWord(p, this.prev.value);
    if (s.startsWith('has(', p)) return this.lexHas(p);
    if (s.startsWith('all(', p)) return this.lexEmptyCall(p, 'all', 'all');
    if (s.startsWith('global(', p)) return this.lexEmptyCall(p, 'global', 'global');
    const end = this.labelEnd(p);
    if (end > p) return this.tok('label', p, end, this.checkLabel(p, end));
    return this.fail(p, `unexpected character ${this.describeAt(p)}`);
  }

  /** `word` at `p`, not followed by another label character. */
  private wordAt(p: number, word: string): boolean {
    return this.src.startsWith(word, p) && !isLabelChar(this.src.charCodeAt(p + word.length));
  }

  /** Two-word operators tolerate any run of spaces between the words, or none (`startswith`, `notin`). */
  private twoWords(p: number, first: string, second: string): number {
    if (!this.src.startsWith(first, p)) return -1;
    const q = this.skipSpaces(p + first.length);
    return this.wordAt(q, second) ? q + second.length : -1;
  }

  private lexOperatorWord(p: number, label: string): Token {
    if (this.wordAt(p, 'contains')) return this.tok('contains', p, p + 8);
    if (this.wordAt(p, 'in')) return this.tok('in', p, p + 2);
    let end = this.twoWords(p, 'not', 'in');
    if (end >= 0) return this.tok('not in', p, end);
    end = this.twoWords(p, 'starts', 'with');
    if (end >= 0) return this.tok('starts with', p, end);
    end = this.twoWords(p, 'ends', 'with');
    if (end >= 0) return this.tok('ends with', p, end);
    return this.fail(p, `expected an operator (${OPERATOR_LIST}) after label ${quote(label)}, found ${this.describeAt(p)}`);
  }

  private lexHas(start: number): Token {
    const p = this.skipSpaces(start + 4);
    const end = this.labelEnd(p);
    if (end === p) this.fail(p, `expected a label name inside "has(", found ${this.describeAt(p)}`);
    const label = this.checkLabel(p, end);
    const close = this.skipSpaces(end);
    if (this.src[close] !== ')') {
      this.fail(close, `expected ")" to close "has(" at column ${start + 1}, found ${this.describeAt(close)}`);
    }
    return this.tok('has', start, close + 1, label);
  }

  private lexEmptyCall(start: number, name: string, kind: 'all' | 'global'): Token {
    const close = this.skipSpaces(start + name.length + 1);
    if (this.src[close] !== ')') this.fail(close, `expected ")" after "${name}(", found ${this.describeAt(close)}`);
    return this.tok(kind, start, close + 1);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Parser: recursive descent over  or := and ("||" and)* ; and := unary ("&&" unary)* ;
// unary := "!"* primary ; primary := has(k) | all() | global() | "(" or ")" | label op literal.
// As in Calico, "!" binds to one primary, so `!a == "x" && b == "y"` is `(!(a == "x")) && b == "y"`.

function describeToken(t: Token): string {
  switch (t.kind) {
    case 'eof': return 'end of selector';
    case 'label': return `label ${quote(t.value)}`;
    case 'string': return `string ${clip(t.text)}`;
    default: return quote(t.text);
  }
}

const VALUE_OPS = {
  '==': 'eq',
  '!=': 'ne',
  contains: 'contains',
  'starts with': 'startsWith',
  'ends with': 'endsWith',
} as const;

class Parser {
  private readonly lx: Lexer;

  constructor(src: string) {
    this.lx = new Lexer(src);
  }

  private fail(t: Token, detail: string): never {
    return this.lx.fail(t.start, detail);
  }

  parse(): SelectorNode {
    if (this.lx.peek().kind === 'eof') return { op: 'all' };
    const node = this.parseOr(0);
    const t = this.lx.next();
    if (t.kind === 'eof') return node;
    if (t.kind === ')') this.fail(t, 'unexpected ")" with no matching "("');
    return this.fail(t, `expected "&&", "||" or end of selector, found ${describeToken(t)}`);
  }

  private parseOr(depth: number): SelectorNode {
    const first = this.parseAnd(depth);
    if (this.lx.peek().kind !== '||') return first;
    const exprs = [first];
    while (this.lx.peek().kind === '||') {
      this.lx.next();
      exprs.push(this.parseAnd(depth));
    }
    return { op: 'or', exprs };
  }

  private parseAnd(depth: number): SelectorNode {
    const first = this.parseUnary(depth);
    if (this.lx.peek().kind !== '&&') return first;
    const exprs = [first];
    while (this.lx.peek().kind === '&&') {
      this.lx.next();
      exprs.push(this.parseUnary(depth));
    }
    return { op: 'and', exprs };
  }

  private parseUnary(depth: number): SelectorNode {
    let negated = false;
    while (this.lx.peek().kind === '!') {
      this.lx.next();
      negated = !negated;
    }
    const expr = this.parsePrimary(depth);
    return negated ? { op: 'not', expr } : expr;
  }

  private parsePrimary(depth: number): SelectorNode {
    const t = this.lx.next();
    switch (t.kind) {
      case 'has': return { op: 'has', label: t.value };
      case 'all': return { op: 'all' };
      case 'global': return { op: 'global' };
      case 'label': return this.parseComparison(t);
      case '(': {
        if (depth >= MAX_SELECTOR_NESTING) {
          this.fail(t, `parentheses nested more than ${MAX_SELECTOR_NESTING} levels deep`);
        }
        const first = this.lx.peek();
        if (first.kind === ')') this.fail(first, `expected an expression inside "(" at column ${t.start + 1}, found ")"`);
        const inner = this.parseOr(depth + 1);
        const close = this.lx.next();
        if (close.kind === ')') return inner;
        if (close.kind === 'eof') this.fail(close, `expected ")" to close "(" at column ${t.start + 1}, found end of selector`);
        return this.fail(close, `expected "&&", "||" or ")" to close "(" at column ${t.start + 1}, found ${describeToken(close)}`);
      }
      default:
        return this.fail(t, `expected a label name, found ${describeToken(t)}`);
    }
  }

  private parseComparison(labelTok: Token): SelectorNode {
    const label = labelTok.value;
    const opTok = this.lx.next();
    switch (opTok.kind) {
      case '==': case '!=': case 'contains': case 'starts with': case 'ends with': {
        const v = this.lx.next();
        if (v.kind !== 'string') this.fail(v, `expected a quoted string after "${opTok.kind}", found ${describeToken(v)}`);
        return { op: VALUE_OPS[opTok.kind], label, value: v.value };
      }
      case 'in': case 'not in': {
        const brace = this.lx.next();
        if (brace.kind !== '{') this.fail(brace, `expected "{" after "${opTok.kind}", found ${describeToken(brace)}`);
        const values: string[] = [];
        // Calico accepts a trailing comma (`{"a",}`) and the empty set.
        for (;;) {
          const t = this.lx.next();
          if (t.kind === '}') break;
          if (t.kind !== 'string') {
            this.fail(t, `expected a quoted string or "}" in the set opened at column ${brace.start + 1}, found ${describeToken(t)}`);
          }
          values.push(t.value);
          const sep = this.lx.next();
          if (sep.kind === '}') break;
          if (sep.kind !== ',') {
            this.fail(sep, `expected "," or "}" in the set opened at column ${brace.start + 1}, found ${describeToken(sep)}`);
          }
        }
        return { op: opTok.kind === 'in' ? 'in' : 'notIn', label, values };
      }
      default: {
        let hint = '';
        if (opTok.kind === '(' && (label === 'has' || label === 'all' || label === 'global')) {
          hint = ` (write "${label}(" with no space before "(")`;
        }
        return this.fail(opTok, `expected an operator (${OPERATOR_LIST}) after label ${quote(label)}, found ${describeToken(opTok)}${hint}`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Normalisation, printing, compilation.

/** Order by code point, which is the byte order of UTF-8 and so the order Calico's Go sort gives. */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // A surrogate (0xD800–0xDFFF) encodes a code point above 0xFFFF, so it sorts after every other unit
    // from 0xE000 up, unlike plain UTF-16 order.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

function sortedUnique(values: readonly string[]): string[] {
  const out = [...new Set(values)].sort(compareCodePoints);
  return out;
}

const LABEL_RE = /^[A-Za-z0-9_./-]{1,512}$/;

function checkNodeLabel(label: unknown): string {
  if (typeof label !== 'string' || !LABEL_RE.test(label)) {
    throw new RangeError(`Invalid selector label ${JSON.stringify(label)}: must be 1–${MAX_LABEL_LENGTH} of [A-Za-z0-9_./-]`);
  }
  return label;
}

function checkNodeValue(value: unknown): string {
  if (typeof value !== 'string') throw new RangeError(`Invalid selector value ${JSON.stringify(value)}: must be a string`);
  if (value.includes('"') && value.includes("'")) {
    throw new RangeError(`Invalid selector value ${JSON.stringify(value)}: it cannot contain both quote characters`);
  }
  return value;
}

/**
 * Brings any node into the one shape the printer and the tests rely on: and/or flattened and never
 * empty or single, `!!x` collapsed, sets sorted and deduped; labels and values checked; the result frozen.
 * An empty `and` is all() and an empty `or` is !all(), which is what the n-ary operators mean.
 */
function normalize(n: SelectorNode): SelectorNode {
  switch (n.op) {
    case 'all': return ALL_NODE;
    case 'global': return GLOBAL_NODE;
    case 'eq': case 'ne': case 'contains': case 'startsWith': case 'endsWith':
      return Object.freeze({ op: n.op, label: checkNodeLabel(n.label), value: checkNodeValue(n.value) });
    case 'in': case 'notIn':
      if (!Array.isArray(n.values)) throw new RangeError(`Invalid selector node: "${n.op}" needs a values array`);
      return Object.freeze({
        op: n.op,
        label: checkNodeLabel(n.label),
        values: Object.freeze(sortedUnique(n.values.map(checkNodeValue))) as string[],
      });
    case 'has':
      return Object.freeze({ op: 'has', label: checkNodeLabel(n.label) });
    case 'not': {
      const inner = normalize(n.expr);
      return inner.op === 'not' ? inner.expr : Object.freeze({ op: 'not', expr: inner });
    }
    case 'and': case 'or': {
      const exprs: SelectorNode[] = [];
      for (const e of n.exprs) {
        const ne = normalize(e);
        if (ne.op === n.op) exprs.push(...ne.exprs);
        else exprs.push(ne);
      }
      if (exprs.length === 0) return n.op === 'and' ? ALL_NODE : Object.freeze({ op: 'not', expr: ALL_NODE });
      if (exprs.length === 1) return exprs[0];
      return Object.freeze({ op: n.op, exprs: Object.freeze(exprs) as SelectorNode[] });
    }
    default:
      throw new RangeError(`Invalid selector node op ${JSON.stringify((n as { op: unknown }).op)}`);
  }
}

const ALL_NODE: SelectorNode = Object.freeze({ op: 'all' });
const GLOBAL_NODE: SelectorNode = Object.freeze({ op: 'global' });

/** A string literal as the selector language writes it: double quotes unless the value holds one. */
export function quoteSelectorValue(v: string): string {
  if (!v.includes('"')) return `"${v}"`;
  if (v.includes("'")) throw new RangeError(`Selector value ${JSON.stringify(v)} cannot be quoted: it contains both quote characters`);
  return `'${v}'`;
}

const PRINTED_OP = { eq: '==', ne: '!=', contains: 'contains', startsWith: 'starts with', endsWith: 'ends with' } as const;

function print(n: SelectorNode): string {
  switch (n.op) {
    case 'all': return 'all()';
    case 'global': return 'global()';
    case 'has': return `has(${n.label})`;
    case 'eq': case 'ne': case 'contains': case 'startsWith': case 'endsWith':
      return `${n.label} ${PRINTED_OP[n.op]} ${quoteSelectorValue(n.value)}`;
    case 'in': return `${n.label} in {${n.values.map(quoteSelectorValue).join(', ')}}`;
    case 'notIn': return `${n.label} not in {${n.values.map(quoteSelectorValue).join(', ')}}`;
    case 'not': {
      const e = n.expr;
      // Groups print their own parentheses; a negated comparison gets them so it cannot be misread.
      const bare = e.op === 'has' || e.op === 'all' || e.op === 'global' || e.op === 'and' || e.op === 'or';
      return bare ? `!${print(e)}` : `!(${print(e)})`;
    }
    case 'and': return `(${n.exprs.map(print).join(' && ')})`;
    case 'or': return `(${n.exprs.map(print).join(' || ')})`;
  }
}

type Labels = Readonly<Record<string, string>>;
type Evaluator = (labels: Labels) => boolean;

const TRUE: Evaluator = () => true;
const FALSE: Evaluator = () => false;

// Presence is `typeof labels[k] === 'string'`: it is one property read, and it also keeps names such as
// `constructor` or `toString` (inherited from Object.prototype, never strings) from looking present.
function compile(n: SelectorNode): Evaluator {
  switch (n.op) {
    case 'all': case 'global': return TRUE;
    case 'has': { const k = n.label; return (l) => typeof l[k] === 'string'; }
    case 'eq': { const k = n.label; const v = n.value; return (l) => l[k] === v; }
    case 'ne': { const k = n.label; const v = n.value; return (l) => l[k] !== v; }
    case 'contains': {
      const k = n.label; const v = n.value;
      return (l) => { const x = l[k]; return typeof x === 'string' && x.includes(v); };
    }
    case 'startsWith': {
      const k = n.label; const v = n.value;
      return (l) => { const x = l[k]; return typeof x === 'string' && x.startsWith(v); };
    }
    case 'endsWith': {
      const k = n.label; const v = n.value;
      return (l) => { const x = l[k]; return typeof x === 'string' && x.endsWith(v); };
    }
    case 'in': case 'notIn': {
      const k = n.label;
      const isIn = n.op === 'in';
      if (n.values.length === 0) return isIn ? FALSE : TRUE;
      if (n.values.length === 1) {
        const v = n.values[0];
        return isIn ? (l) => l[k] === v : (l) => l[k] !== v;
      }
      const set = new Set(n.values);
      return isIn
        ? (l) => { const x = l[k]; return typeof x === 'string' && set.has(x); }
        : (l) => { const x = l[k]; return typeof x !== 'string' || !set.has(x); };
    }
    case 'not': {
      if (n.expr.op === 'all' || n.expr.op === 'global') return FALSE;
      const f = compile(n.expr);
      return (l) => !f(l);
    }
    case 'and': {
      const fs = n.exprs.map(compile);
      if (fs.length === 2) { const [a, b] = fs; return (l) => a(l) && b(l); }
      if (fs.length === 3) { const [a, b, c] = fs; return (l) => a(l) && b(l) && c(l); }
      return (l) => { for (const f of fs) if (!f(l)) return false; return true; };
    }
    case 'or': {
      const fs = n.exprs.map(compile);
      if (fs.length === 2) { const [a, b] = fs; return (l) => a(l) || b(l); }
      if (fs.length === 3) { const [a, b, c] = fs; return (l) => a(l) || b(l) || c(l); }
      return (l) => { for (const f of fs) if (f(l)) return true; return false; };
    }
  }
}

function collectLabels(n: SelectorNode, out: Set<string>): void {
  switch (n.op) {
    case 'all': case 'global': return;
    case 'not': collectLabels(n.expr, out); return;
    case 'and': case 'or': for (const e of n.exprs) collectLabels(e, out); return;
    default: out.add(n.label);
  }
}

class CompiledSelector implements Selector {
  readonly source: string;
  readonly node: SelectorNode;
  readonly canonical: string;
  /** Own property (not a method) so that `sel.evaluate` can be passed around unbound. */
  readonly evaluate: (labels: Labels) => boolean;
  readonly #labels: readonly string[];
  #uniqueId: string | undefined;

  constructor(source: string, normalized: SelectorNode) {
    this.source = source;
    this.node = normalized;
    this.canonical = print(normalized);
    this.evaluate = compile(normalized);
    const labels = new Set<string>();
    collectLabels(normalized, labels);
    this.#labels = [...labels].sort();
    Object.freeze(this);
  }

  get uniqueId(): string {
    if (this.#uniqueId === undefined) {
      this.#uniqueId = `s:${createHash('sha224').update(`s:${this.canonical}`).digest('base64url')}`;
    }
    return this.#uniqueId;
  }

  labelsUsed(): string[] {
    return [...this.#labels];
  }

  toString(): string {
    return this.canonical;
  }

  toJSON(): string {
    return this.canonical;
  }
}

// Bounded memo of parsed selectors, least recently used first out. Selectors are immutable, so sharing is safe.
const cache = new Map<string, Selector>();

export interface ParseSelectorOptions {
  /** Longest text accepted; default MAX_SELECTOR_LENGTH. Internal compositions may pass Infinity. */
  maxLength?: number;
}

/**
 * Parses selector text; empty or blank text is all(). Throws SelectorParseError with a 1-based column.
 * The canonical form of an accepted selector parses back to itself, but can be a little longer than the
 * source (spaces in sets, parentheses around groups), so re-parsing it may need a larger `maxLength`.
 */
export function parseSelector(text: string, options?: ParseSelectorOptions): Selector {
  const maxLength = options?.maxLength ?? MAX_SELECTOR_LENGTH;
  if (text.length > maxLength) {
    throw new SelectorParseError(text, maxLength + 1, `selector is ${text.length} characters long, the maximum is ${maxLength}`);
  }
  const hit = cache.get(text);
  if (hit !== undefined) {
    cache.delete(text);
    cache.set(text, hit);
    return hit;
  }
  const sel = new CompiledSelector(text, normalize(new Parser(text).parse()));
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(text, sel);
  return sel;
}

/** Builds a selector from a node tree (normalised first); throws RangeError for bad labels or values. */
export function selectorFromNode(node: SelectorNode): Selector {
  const n = normalize(node);
  const canonical = print(n);
  return new CompiledSelector(canonical, n);
}

/** True if global() appears anywhere; only a rule's namespaceSelector may use it. */
export function selectorUsesGlobal(node: SelectorNode): boolean {
  switch (node.op) {
    case 'global': return true;
    case 'not': return selectorUsesGlobal(node.expr);
    case 'and': case 'or': return node.exprs.some(selectorUsesGlobal);
    default: return false;
  }
}

/**
 * ANDs selectors (text or parsed), as namespace scoping does. Parts that are all() (including empty text)
 * are dropped; with nothing left the result is all(), and a single remaining part is returned as it is.
 * Text parts have no length limit here: the composition is ours, the parts were validated where they came in.
 */
export function andSelectors(...selectors: Array<string | Selector>): Selector {
  const parts: Selector[] = [];
  for (const s of selectors) {
    const sel = typeof s === 'string' ? parseSelector(s, { maxLength: Infinity }) : s;
    if (sel.node.op !== 'all') parts.push(sel);
  }
  if (parts.length === 0) return parseSelector('');
  if (parts.length === 1) return parts[0];
  return selectorFromNode({ op: 'and', exprs: parts.map((p) => p.node) });
}
