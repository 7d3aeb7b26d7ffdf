// brindlectl's resource verbs: apply, create, replace, delete, get, label, patch. Input is read and
// validated in full (manifest-input.ts, model validation, batch checks against the store) before the
// first write, so invalid input leaves the store unchanged.
//
//   -f FILE|DIR|- ──► parse + validate ──► pre-checks (exists / resourceVersion / pool overlap) ──► ResourceStore writes

import type { Command } from 'commander';
import { ExistsError, NotFoundError } from '../lib/index.ts';
import type { ResourceRef, ResourceStore } from '../datastore/index.ts';
import {
  checkBatch,
  kindInfo,
  lookupKind,
  parseSelector,
  SelectorParseError,
  validateResource,
} from '../model/index.ts';
import type { AnyResource, IPPool, KindInfo, KindName, ManifestDocument } from '../model/index.ts';
import { CliError, EXIT_USAGE } from './io.ts';
import type { CliIO } from './io.ts';
import { readManifestArgs } from './manifest-input.ts';
import { formatResources, OUTPUT_FORMATS, typedName } from './printers.ts';
import type { OutputFormat } from './printers.ts';

export interface CommandContext {
  io: CliIO;
  /** Opens the datastore chosen by --datastore / BRINDLE_DATASTORE on first use. */
  store(cmd: Command): Promise<ResourceStore>;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function resolveKind(name: string): KindInfo {
  const info = lookupKind(name);
  if (!info) {
    throw new CliError(`unknown resource kind "${name}" (try: ippool, gnp, networkpolicy, pod, namespace, tier, wep, ...)`, EXIT_USAGE);
  }
  return info;
}

/** Fills in the namespace of namespaced documents from -n (or "default"); rejects a mismatch. */
function applyNamespace(docs: ManifestDocument[], namespace: string | undefined): void {
  for (const doc of docs) {
    const info = kindInfo(doc.resource.kind);
    if (!info.namespaced) continue;
    const meta = doc.resource.metadata;
    if (meta.namespace && namespace && meta.namespace !== namespace) {
      throw new CliError(
        `${doc.source}: document ${doc.index}: ${info.manifestKind} "${meta.name}": metadata.namespace "${meta.namespace}" does not match -n "${namespace}"`,
        EXIT_USAGE,
      );
    }
    meta.namespace = meta.namespace ?? namespace ?? 'default';
  }
}

const refOf = (r: AnyResource): ResourceRef => ({ kind: r.kind, name: r.metadata.name, namespace: r.metadata.namespace });
const where = (d: ManifestDocument) => `${d.source}: document ${d.index}: ${kindInfo(d.resource.kind).manifestKind} "${d.resource.metadata.name}"`;

/** True when applying `next` over `current` would change nothing a user wrote. */
function sameContent(current: AnyResource, next: AnyResource): boolean {
  const pick = (r: AnyResource) => JSON.stringify([r.metadata.labels ?? {}, r.metadata.annotations ?? {}, r.spec ?? {}]);
  return pick(current) === pick(next);
}

async function loadBatch(ctx: CommandContext, cmd: Command, files: string[], opts: { recursive?: boolean; namespace?: string }) {
  const docs = await readManifestArgs(ctx.io, files, opts.recursive);
  applyNamespace(docs, opts.namespace);
  const store = await ctx.store(cmd);
  const needPools = docs.some((d) => d.resource.kind === 'IPPool');
  const pools = needPools ? (await store.list<IPPool>('IPPool')).items : [];
  checkBatch(docs, { pools });
  return { docs, store };
}

function parseOutput(value: string): OutputFormat {
  if (!OUTPUT_FORMATS.includes(value as OutputFormat)) {
    throw new CliError(`unknown output format "${value}" (expected ${OUTPUT_FORMATS.join(', ')})`, EXIT_USAGE);
  }
  return value as OutputFormat;
}

/** Kubernetes JSON merge patch (RFC 7386). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const base: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete base[k];
    else base[k] = mergePatch(base[k], v);
  }
  return base;
}

/** The resource in its printed manifest form, ready for validateResource. */
function asManifest(r: AnyResource): Record<string, unknown> {
  const info = kindInfo(r.kind);
  const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, ...metadata } = r.metadata;
  return { ...r, apiVersion: info.apiVersion, kind: info.manifestKind, metadata };
}

/** Re-validates an edited resource, keeping its identity fields; used by label and patch. */
function revalidate(edited: unknown, original: AnyResource, what: string): AnyResource {
  const checked = validateResource(edited, { source: what, index: 1 });
  const same = checked.kind === original.kind && checked.metadata.name === original.metadata.name
    && (checked.metadata.namespace ?? '') === (original.metadata.namespace ?? '');
  if (!same) throw new CliError(`${what}: a patch may not change kind, name or namespace`, EXIT_USAGE);
  checked.metadata.resourceVersion = original.metadata.resourceVersion;
  return checked;
}

/** The -f/-R/-n options shared by the verbs that read manifests. */
function withManifestOptions(cmd: Command): Command {
  return cmd
    .option('-f, --filename <path>', 'file, directory or - for stdin (repeatable)', collect, [])
    .option('-R, --recursive', 'descend into directories')
    .option('-n, --namespace <ns>', 'namespace for namespaced resources without one');
}

export function registerResourceCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  const out = (s: string) => io.stdout(s);

  withManifestOptions(program.command('apply'))
    .description('create or replace resources from manifests')
    .action(async (opts, cmd: Command) => {
      const { docs, store } = await loadBatch(ctx, cmd, opts.filename, opts);
      for (const doc of docs) {
        const before = await store.get(refOf(doc.resource));
        if (before && sameContent(before, doc.resource)) {
          out(`${typedName(doc.resource)} unchanged\n`);
          continue;
        }
        const { created } = await store.apply(doc.resource);
        out(`${typedName(doc.resource)} ${created ? 'created' : 'configured'}\n`);
      }
    });

  withManifestOptions(program.command('create'))
    .description('create resources; fails if any already exists')
    .option('--skip-exists', 'skip resources that already exist instead of failing')
    .action(async (opts, cmd: Command) => {
      const { docs, store } = await loadBatch(ctx, cmd, opts.filename, opts);
      const skip = new Set<ManifestDocument>();
      for (const doc of docs) {
        if (!(await store.get(refOf(doc.resource)))) continue;
        if (!opts.skipExists) throw new ExistsError(`${where(doc)}: already exists (use apply or replace, or --skip-exists)`);
        skip.add(doc);
      }
      for (const doc of docs) {
        if (skip.has(doc)) {
          out(`${typedName(doc.resource)} skipped (exists)\n`);
          continue;
        }
        await store.create(doc.resource);
        out(`${typedName(doc.resource)} created\n`);
      }
    });

  withManifestOptions(program.command('replace'))
    .description('replace existing resources; honours metadata.resourceVersion')
    .action(async (opts, cmd: Command) => {
      const { docs, store } = await loadBatch(ctx, cmd, opts.filename, opts);
      for (const doc of docs) {
        const current = await store.get(refOf(doc.resource));
        if (!current) throw new NotFoundError(`${where(doc)}: not found (use create or apply)`);
        const rv = doc.resource.metadata.resourceVersion;
        if (rv && rv !== current.metadata.resourceVersion) {
          throw new CliError(
            `${where(doc)}: metadata.resourceVersion "${rv}" is stale (stored "${current.metadata.resourceVersion}"); get it again and retry`,
          );
        }
      }
      for (const doc of docs) {
        await store.update(doc.resource);
        out(`${typedName(doc.resource)} replaced\n`);
      }
    });

  program
    .command('delete')
    .description('delete resources named by manifests or by KIND NAME...')
    .argument('[kind]', 'resource kind')
    .argument('[names...]', 'resource names')
    .option('-f, --filename <path>', 'file, directory or - for stdin (repeatable)', collect, [])
    .option('-R, --recursive', 'descend into directories')
    .option('-n, --namespace <ns>', 'namespace of namespaced resources')
    .option('--skip-not-exists', 'do not fail for resources that do not exist')
    .action(async (kind: string | undefined, names: string[], opts, cmd: Command) => {
      let refs: ResourceRef[];
      if (opts.filename.length > 0) {
        if (kind) throw new CliError('give either -f or KIND NAME..., not both', EXIT_USAGE);
        const docs = await readManifestArgs(io, opts.filename, opts.recursive);
        applyNamespace(docs, opts.namespace);
        refs = docs.map((d) => refOf(d.resource));
      } else {
        if (!kind || names.length === 0) throw new CliError('delete needs -f FILE or KIND NAME...', EXIT_USAGE);
        const info = resolveKind(kind);
        refs = names.map((name) => ({ kind: info.kind, name, namespace: info.namespaced ? opts.namespace ?? 'default' : undefined }));
      }
      const store = await ctx.store(cmd);
      const missing: ResourceRef[] = [];
      for (const ref of refs) if (!(await store.get(ref))) missing.push(ref);
      if (missing.length > 0 && !opts.skipNotExists) {
        const m = missing[0];
        throw new NotFoundError(`${kindInfo(m.kind).manifestKind} "${m.namespace ? `${m.namespace}/` : ''}${m.name}" not found; nothing was deleted`);
      }
      for (const ref of refs) {
        if (missing.includes(ref)) continue;
        await store.delete(ref);
        out(`${kindInfo(ref.kind).manifestKind.toLowerCase()}/${ref.name} deleted\n`);
      }
    });

  program
    .command('get')
    .description('show resources')
    .argument('<kind>', 'resource kind (case-insensitive; plural and short names work)')
    .argument('[names...]', 'resource names (default: all)')
    .option('-o, --output <format>', `output format: ${OUTPUT_FORMATS.join('|')}`, 'table')
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .option('-A, --all-namespaces', 'list across all namespaces')
    .option('-l, --selector <selector>', 'filter by labels with a selector expression, e.g. "app == \'web\'"')
    .action(async (kind: string, names: string[], opts, cmd: Command) => {
      const info = resolveKind(kind);
      const format = parseOutput(opts.output);
      let selector;
      if (opts.selector !== undefined) {
        try {
          selector = parseSelector(opts.selector);
        } catch (err) {
          if (err instanceof SelectorParseError) throw new CliError(`-l: ${err.message}`, EXIT_USAGE);
          throw err;
        }
      }
      const store = await ctx.store(cmd);
      const namespace = info.namespaced && !opts.allNamespaces ? opts.namespace ?? 'default' : undefined;
      let items: AnyResource[];
      if (names.length > 0) {
        items = [];
        for (const name of names) items.push(await store.mustGet({ kind: info.kind, name, namespace }));
      } else {
        items = (await store.list(info.kind, namespace)).items;
      }
      if (selector) items = items.filter((r) => selector.evaluate(r.metadata.labels ?? {}));
      if (items.length === 0 && (format === 'table' || format === 'wide')) {
        io.stderr(namespace ? `No resources found in namespace "${namespace}".\n` : 'No resources found.\n');
        return;
      }
      out(formatResources(items, format, { kind: info.kind, showNamespace: Boolean(opts.allNamespaces), asList: names.length !== 1 }));
    });

  program
    .command('label')
    .description('add, change or remove labels: KIND NAME key=value... | key- | key --remove')
    .argument('<kind>')
    .argument('<name>')
    .argument('<labels...>', 'key=value to set, key- to remove')
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .option('--overwrite', 'allow changing an existing label value')
    .option('--remove', 'remove the named label keys')
    .action(async (kind: string, name: string, labelArgs: string[], opts, cmd: Command) => {
      const info = resolveKind(kind);
      const ref: ResourceRef = { kind: info.kind, name, namespace: info.namespaced ? opts.namespace ?? 'default' : undefined };
      const store = await ctx.store(cmd);
      const current = await store.mustGet(ref);
      const labels = { ...(current.metadata.labels ?? {}) };
      for (const arg of labelArgs) {
        if (opts.remove || arg.endsWith('-')) {
          const key = opts.remove ? arg : arg.slice(0, -1);
          if (!(key in labels)) throw new CliError(`label "${key}" not found on ${info.manifestKind} "${name}"`);
          delete labels[key];
          continue;
        }
        const eq = arg.indexOf('=');
        if (eq <= 0) throw new CliError(`bad label argument "${arg}": expected key=value, key- or --remove key`, EXIT_USAGE);
        const key = arg.slice(0, eq);
        const value = arg.slice(eq + 1);
        if (key in labels && labels[key] !== value && !opts.overwrite) {
          throw new CliError(`label "${key}" already has value "${labels[key]}" on ${info.manifestKind} "${name}"; use --overwrite to change it`);
        }
        labels[key] = value;
      }
      const edited = asManifest(current) as { metadata: Record<string, unknown> };
      edited.metadata = { ...edited.metadata, labels };
      const checked = revalidate(edited, current, `label ${info.manifestKind} "${name}"`);
      await store.update(checked);
      out(`${typedName(current)} labeled\n`);
    });

  program
    .command('patch')
    .description('change a resource with a JSON merge patch')
    .argument('<kind>')
    .argument('<name>')
    .requiredOption('-p, --patch <json>', 'JSON merge patch, e.g. \'{"spec":{"disabled":true}}\'')
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .action(async (kind: string, name: string, opts, cmd: Command) => {
      const info = resolveKind(kind);
      let patch: unknown;
      try {
        patch = JSON.parse(opts.patch);
      } catch (err) {
        throw new CliError(`-p: not valid JSON: ${(err as Error).message}`, EXIT_USAGE);
      }
      if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
        throw new CliError('-p: a merge patch must be a JSON object', EXIT_USAGE);
      }
      const ref: ResourceRef = { kind: info.kind, name, namespace: info.namespaced ? opts.namespace ?? 'default' : undefined };
      const store = await ctx.store(cmd);
      const current = await store.mustGet(ref);
      const checked = revalidate(mergePatch(asManifest(current), patch), current, `patch ${info.manifestKind} "${name}"`);
      if (checked.kind === 'IPPool') checkBatch([{ source: '-p', index: 1, resource: checked }], { pools: (await store.list<IPPool>('IPPool')).items });
      await store.update(checked);
      out(`${typedName(current)} patched\n`);
    });
}

export type { KindName };
