// brindlectl's entry: builds the command tree, opens the datastore lazily (flag, BRINDLE_DATASTORE, or
// the embedded SQLite default), and maps every failure to one line on stderr and an exit status —
// 0 ok, 1 operation failed, 2 usage or invalid input. Never a stack trace for expected failures.
//
//   argv ──► commander ──► resource / datastore / ipam / node / policy / connectivity commands ──► ResourceStore ──► Datastore

import { Command, CommanderError } from 'commander';
import { isBrindleError } from '../lib/index.ts';
import { openDatastore, resolveDatastoreLocator, ResourceStore } from '../datastore/index.ts';
import type { Datastore } from '../datastore/index.ts';
import { allAliases } from '../model/index.ts';
import { registerBgpCommands } from './bgp-commands.ts';
import { registerConnectivityCommands } from './connectivity-commands.ts';
import { registerDatastoreCommands } from './datastore-commands.ts';
import { registerIpamCommands } from './ipam-commands.ts';
import { CliError, EXIT_FAILED, EXIT_USAGE, processIO } from './io.ts';
import type { CliIO } from './io.ts';
import { registerPolicyCommands } from './policy-commands.ts';
import { registerResourceCommands } from './resource-commands.ts';
import type { CommandContext } from './resource-commands.ts';

export const BRINDLE_VERSION = '0.1.0';

export async function runCli(argv: string[], io: CliIO = processIO()): Promise<number> {
  let datastore: Datastore | undefined;
  let resources: ResourceStore | undefined;
  const program = new Command('brindlectl');
  program
    .description('brindle: L3 networking and network policy for containers, VMs and hosts')
    .version(BRINDLE_VERSION)
    .option('--datastore <locator>', 'sqlite:PATH or etcd:URL[,URL...] (default: $BRINDLE_DATASTORE, else sqlite:/var/lib/brindle/brindle.db)')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .addHelpText('after', `\nKinds: ${allAliases().join(', ')}\n`);

  const ctx: CommandContext = {
    io,
    async store(cmd: Command) {
      if (!resources) {
        const locator = resolveDatastoreLocator(cmd.optsWithGlobals().datastore as string | undefined, io.env);
        datastore = await openDatastore(locator);
        resources = new ResourceStore(datastore);
      }
      return resources;
    },
  };
  registerResourceCommands(program, ctx);
  registerDatastoreCommands(program, ctx);
  registerIpamCommands(program, ctx);
  registerBgpCommands(program, ctx);
  const loadResources = async () => (await ctx.store(program)).listAll().then((l) => l.items);
  const deps = { loadResources, stdout: (s: string) => io.stdout(s), stderr: (s: string) => io.stderr(s) };
  registerPolicyCommands(program, deps);
  registerConnectivityCommands(program, deps);
  for (const sub of program.commands) {
    sub.exitOverride().configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  }

  const previousExitCode = process.exitCode;
  process.exitCode = undefined;
  try {
    await program.parseAsync(argv, { from: 'user' });
    const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
    return code;
  } catch (err) {
    return reportError(err, io);
  } finally {
    process.exitCode = previousExitCode;
    if (datastore) await datastore.close().catch(() => undefined);
  }
}

function reportError(err: unknown, io: CliIO): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
    return err.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (err instanceof CliError) {
    io.stderr(`brindlectl: ${err.message}\n`);
    return err.exitCode;
  }
  if (isBrindleError(err)) {
    io.stderr(`brindlectl: ${err.message}\n`);
    return err.code === 'E_INVALID' ? EXIT_USAGE : EXIT_FAILED;
  }
  // Anything else is a bug: keep the stack for the report.
  io.stderr(`brindlectl: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  return EXIT_FAILED;
}
