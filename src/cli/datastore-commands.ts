// `brindlectl datastore export|import|migrate`: move a whole cluster's state between files and
// backends, so a user who outgrows the embedded SQLite store moves to etcd without retyping anything.
// export/import speak manifests (readable, re-appliable); migrate copies every brindle key verbatim,
// IPAM state included, and refuses to write into a store that already holds brindle data.

import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { openDatastore, RESOURCE_PREFIX, ResourceStore } from '../datastore/index.ts';
import { checkBatch, encodeManifests, kindInfo, KINDS } from '../model/index.ts';
import type { AnyResource, IPPool } from '../model/index.ts';
import { CliError, EXIT_USAGE } from './io.ts';
import { readManifestArgs } from './manifest-input.ts';
import type { CommandContext } from './resource-commands.ts';

/** Every key brindle owns lives under this prefix (resources and IPAM alike). */
const BRINDLE_PREFIX = RESOURCE_PREFIX.replace(/v1\/$/, '');

/** Kinds in dependency order: tiers before policies, namespaces before pods, pools before endpoints. */
function importOrder(r: AnyResource): number {
  const order = ['ClusterInformation', 'AgentConfiguration', 'BGPConfiguration', 'IPPool', 'IPReservation', 'Node', 'Namespace', 'ServiceAccount', 'Tier', 'Profile'];
  const i = order.indexOf(r.kind);
  return i >= 0 ? i : order.length + KINDS.findIndex((k) => k.kind === r.kind);
}

function stripServerFields(r: AnyResource): AnyResource {
  const { resourceVersion: _rv, ...metadata } = r.metadata;
  return { ...r, metadata } as AnyResource;
}

export function registerDatastoreCommands(program: Command, ctx: CommandContext): void {
  const ds = program.command('datastore').description('export, import and migrate the whole datastore');

  ds.command('export')
    .description('write every resource as one YAML (or JSON) List that `datastore import` or `apply` reads back')
    .option('-o, --output <format>', 'yaml or json', 'yaml')
    .option('--file <path>', 'write to a file instead of standard output')
    .action(async (opts, cmd: Command) => {
      if (opts.output !== 'yaml' && opts.output !== 'json') throw new CliError(`unknown export format "${opts.output}" (expected yaml or json)`, EXIT_USAGE);
      const store = await ctx.store(cmd);
      const { items } = await store.listAll();
      const sorted = items.map(stripServerFields).sort((a, b) => importOrder(a) - importOrder(b));
      const text = encodeManifests(sorted, opts.output, { asList: true });
      if (opts.file) {
        writeFileSync(opts.file, text);
        ctx.io.stderr(`exported ${items.length} resource(s) to ${opts.file}\n`);
      } else {
        ctx.io.stdout(text);
      }
    });

  ds.command('import')
    .description('create-or-replace every resource of an export (validated in full before writing)')
    .option('-f, --filename <path>', 'file, directory or - for stdin (repeatable)', (v: string, p: string[] = []) => [...p, v], [])
    .action(async (opts, cmd: Command) => {
      const docs = await readManifestArgs(ctx.io, opts.filename);
      for (const d of docs) if (kindInfo(d.resource.kind).namespaced) d.resource.metadata.namespace ??= 'default';
      const store = await ctx.store(cmd);
      checkBatch(docs, { pools: (await store.list<IPPool>('IPPool')).items });
      const ordered = [...docs].sort((a, b) => importOrder(a.resource) - importOrder(b.resource));
      for (const d of ordered) await store.apply(stripServerFields(d.resource));
      ctx.io.stdout(`imported ${docs.length} resource(s)\n`);
    });

  ds.command('migrate')
    .description('copy everything (resources and IPAM state) from one datastore to another')
    .requiredOption('--from <locator>', 'source, e.g. sqlite:/var/lib/brindle/brindle.db')
    .requiredOption('--to <locator>', 'destination, e.g. etcd:http://127.0.0.1:2379')
    .action(async (opts) => {
      const from = await openDatastore(opts.from);
      try {
        const to = await openDatastore(opts.to);
        try {
          const existing = await to.list(BRINDLE_PREFIX);
          if (existing.items.length > 0) {
            throw new CliError(`destination "${opts.to}" already holds ${existing.items.length} brindle key(s); migrate only into an empty store`);
          }
          const { items } = await from.list(BRINDLE_PREFIX);
          for (const kv of items) await to.create(kv.key, kv.value);
          const resources = (await new ResourceStore(to).listAll()).items.length;
          ctx.io.stdout(`migrated ${items.length} key(s) (${resources} resource(s)) from ${from.url} to ${to.url}\n`);
        } finally {
          await to.close();
        }
      } finally {
        await from.close();
      }
    });
}
