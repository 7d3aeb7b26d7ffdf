// Manifest codecs: text (YAML multi-document, JSON, `kind: List`) → validated, defaulted resources, and
// resources → printable YAML/JSON that applies back unchanged. `brindlectl apply/create/get` and the
// lab use these; checkBatch adds the checks that need the whole batch (duplicates, pool overlaps) so a
// bad file is refused before anything is written.

import { parseAllDocuments, stringify } from 'yaml';
import { cidrsOverlap, parseCidr } from '../lib/index.ts';
import { applyDefaults } from './defaults.ts';
import { kindInfo } from './kinds.ts';
import type { AnyResource, IPPool } from './types.ts';
import { isMapping, ManifestError, validateResource } from './validate.ts';
import type { ManifestLocation } from './validate.ts';

export interface ManifestDocument {
  source: string;
  /** 1-based document number inside the source. */
  index: number;
  /** 1-based item number when the document is a `kind: List`. */
  item?: number;
  resource: AnyResource;
}

function locationText(d: ManifestLocation): string {
  return `document ${d.index}${d.item !== undefined ? ` item ${d.item}` : ''}`;
}

function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Decodes the text into raw documents (1-based index, value); empty documents are skipped. */
function decode(text: string, source: string): Array<{ index: number; value: unknown }> {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return [{ index: 1, value: JSON.parse(text) as unknown }];
    } catch (err) {
      const msg = (err as Error).message;
      const pos = /at position ([0-9]+)/.exec(msg);
      const lc = pos ? lineColumnAt(text, Number(pos[1])) : undefined;
      const what = msg.replace(/ in JSON at position [0-9]+.*$/, '').replace(/\s*\(line [0-9]+ column [0-9]+\)$/, '');
      const where = lc ? ` at line ${lc.line}, column ${lc.column}` : '';
      throw new ManifestError({ source, index: 1, path: '', detail: `invalid JSON${where}: ${what}`, line: lc?.line, column: undefined });
    }
  }
  const out: Array<{ index: number; value: unknown }> = [];
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [];
  list.forEach((doc, i) => {
    const index = i + 1;
    const err = doc.errors[0];
    if (err) {
      const lc = err.linePos?.[0];
      const what = err.message.split('\n')[0].replace(/ at line [0-9]+, column [0-9]+:?$/, '');
      const where = lc ? ` at line ${lc.line}, column ${lc.col}` : '';
      throw new ManifestError({ source, index, path: '', detail: `invalid YAML${where}: ${what}`, line: lc?.line });
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new ManifestError({ source, index, path: '', detail: `invalid YAML: ${(e as Error).message}` });
    }
    if (value === null || value === undefined) return;
    out.push({ index, value });
  });
  return out;
}

const LIST_KEYS = ['apiVersion', 'kind', 'metadata', 'items'];

function isListDocument(v: unknown): v is Record<string, unknown> {
  return isMapping(v) && typeof v.kind === 'string' && (v.kind === 'List' || (v.kind.endsWith('List') && 'items' in v));
}

/**
 * Parses, validates and defaults every resource in a manifest text (YAML documents separated by `---`,
 * or JSON; either may be a `kind: List`). Throws a ManifestError for the first problem found.
 */
export function parseManifests(text: string, source: string): ManifestDocument[] {
  const out: ManifestDocument[] = [];
  for (const { index, value } of decode(text, source)) {
    if (isListDocument(value)) {
      for (const key of Object.keys(value)) {
        if (!LIST_KEYS.includes(key)) throw new ManifestError({ source, index, kind: value.kind as string, path: key, detail: `unknown field "${key}" in a List` });
      }
      const items = value.items;
      if (items === undefined || items === null) throw new ManifestError({ source, index, kind: value.kind as string, path: 'items', detail: 'required' });
      if (!Array.isArray(items)) throw new ManifestError({ source, index, kind: value.kind as string, path: 'items', detail: 'expected a list of resources' });
      items.forEach((raw, i) => {
        const at = { source, index, item: i + 1 };
        out.push({ ...at, resource: applyDefaults(validateResource(raw, at)) });
      });
      continue;
    }
    const at = { source, index };
    out.push({ ...at, resource: applyDefaults(validateResource(value, at)) });
  }
  return out;
}

function identity(r: AnyResource): string {
  const info = kindInfo(r.kind);
  const ns = info.namespaced ? (r.metadata.namespace ?? 'default') : '';
  return `${r.kind}\u0000${ns}\u0000${r.metadata.name}`;
}

function describeDoc(d: ManifestDocument, relativeTo: ManifestDocument): string {
  return d.source === relativeTo.source ? locationText(d) : `${d.source} ${locationText(d)}`;
}

/**
 * Checks that need the whole batch: a (kind, namespace, name) appears once, and new or changed IP pools
 * neither overlap each other nor an existing pool of another name, nor change an existing pool's CIDR or
 * block size (both immutable). A missing namespace counts as "default", as the caller will default it.
 */
export function checkBatch(docs: ManifestDocument[], existing: { pools: IPPool[] }): void {
  const seen = new Map<string, ManifestDocument>();
  for (const d of docs) {
    const key = identity(d.resource);
    const first = seen.get(key);
    if (first) {
      throw new ManifestError({
        source: d.source,
        index: d.index,
        item: d.item,
        kind: kindInfo(d.resource.kind).manifestKind,
        name: d.resource.metadata.name,
        path: 'metadata.name',
        detail: `defined twice in one batch: also in ${describeDoc(first, d)}`,
      });
    }
    seen.set(key, d);
  }

  const batchPools = docs.filter((d): d is ManifestDocument & { resource: IPPool } => d.resource.kind === 'IPPool');
  const batchNames = new Set(batchPools.map((d) => d.resource.metadata.name));
  const poolError = (d: ManifestDocument & { resource: IPPool }, path: string, detail: string): ManifestError =>
    new ManifestError({ source: d.source, index: d.index, item: d.item, kind: 'IPPool', name: d.resource.metadata.name, path, detail });

  batchPools.forEach((d, i) => {
    const mine = parseCidr(d.resource.spec.cidr);
    const old = existing.pools.find((p) => p.metadata.name === d.resource.metadata.name);
    if (old) {
      const oldCidr = parseCidr(old.spec.cidr).text;
      if (oldCidr !== mine.text) {
        throw poolError(d, 'spec.cidr', `the CIDR of an existing pool cannot change (from "${old.spec.cidr}" to "${d.resource.spec.cidr}"); create a new pool instead`);
      }
      if (old.spec.blockSize !== undefined && d.resource.spec.blockSize !== undefined && old.spec.blockSize !== d.resource.spec.blockSize) {
        throw poolError(d, 'spec.blockSize', `the block size of an existing pool cannot change (from ${old.spec.blockSize} to ${d.resource.spec.blockSize})`);
      }
    }
    for (const other of batchPools.slice(0, i)) {
      if (other.resource.metadata.name === d.resource.metadata.name) continue;
      if (cidrsOverlap(mine, other.resource.spec.cidr)) {
        throw poolError(d, 'spec.cidr', `"${d.resource.spec.cidr}" overlaps pool "${other.resource.metadata.name}" (${other.resource.spec.cidr}) in ${describeDoc(other, d)}`);
      }
    }
    for (const p of existing.pools) {
      if (batchNames.has(p.metadata.name)) continue;
      if (cidrsOverlap(mine, p.spec.cidr)) {
        throw poolError(d, 'spec.cidr', `"${d.resource.spec.cidr}" overlaps existing pool "${p.metadata.name}" (${p.spec.cidr})`);
      }
    }
  });
}

const METADATA_ORDER = ['name', 'namespace', 'labels', 'annotations', 'resourceVersion', 'uid', 'creationTimestamp', 'generation'];

/** The object as printed: registry apiVersion and manifest kind, keys in the order people expect. */
export function toManifestObject(r: AnyResource): Record<string, unknown> {
  const info = kindInfo(r.kind);
  const meta: Record<string, unknown> = {};
  const m = r.metadata as unknown as Record<string, unknown>;
  for (const k of METADATA_ORDER) if (m[k] !== undefined) meta[k] = m[k];
  for (const k of Object.keys(m)) if (!(k in meta) && m[k] !== undefined) meta[k] = m[k];
  const out: Record<string, unknown> = { apiVersion: info.apiVersion, kind: info.manifestKind, metadata: meta };
  const spec = r.spec as unknown;
  // Kubernetes Namespaces and ServiceAccounts usually have no spec; do not print an empty one.
  const emptySpec = isMapping(spec) && Object.keys(spec).length === 0;
  if (spec !== undefined && !(emptySpec && (r.kind === 'Namespace' || r.kind === 'ServiceAccount'))) out.spec = spec;
  if (r.status !== undefined) out.status = r.status;
  return structuredClone(out);
}

function toYaml(v: unknown): string {
  // YAML 1.1 quoting rules on output so that tools reading YAML 1.1 (kubectl, calicoctl) see the same
  // strings we do (e.g. "on", "yes", timestamps); our own reader (YAML 1.2) reads quoted strings the same.
  return stringify(v, { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false });
}

/**
 * Prints resources: one resource → that object; several → multi-document YAML or a JSON `List`.
 * `asList` forces a `List` in both formats (also for one or zero resources).
 */
export function encodeManifests(resources: AnyResource[], format: 'yaml' | 'json', opts: { asList?: boolean } = {}): string {
  const objects = resources.map(toManifestObject);
  const list = { apiVersion: 'v1', kind: 'List', items: objects };
  if (format === 'json') {
    const value = !opts.asList && objects.length === 1 ? objects[0] : list;
    return `${JSON.stringify(value, null, 2)}\n`;
  }
  if (opts.asList) return toYaml(list);
  return objects.map(toYaml).join('---\n');
}
