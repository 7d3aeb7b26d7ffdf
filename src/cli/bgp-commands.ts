// `brindlectl node status`: the BGP sessions of this host, read from the local BIRD control socket
// (`--bird-socket PATH`, default the agent's) and printed as Calico-style tables, or as JSON.
// Publishing every host's sessions to the datastore (`--all`) is not built yet and says so.
//
//   brindlectl node status ──birdc -s SOCK show protocols all──► parseBirdProtocols ──► table | json

import type { Command } from 'commander';
import { DEFAULT_BIRD_SOCKET, formatBgpSessions, readBirdSessions } from '../bgp/index.ts';
import { ProcessRunner } from '../os/index.ts';
import type { CommandRunner } from '../os/index.ts';
import { CliError, EXIT_USAGE } from './io.ts';
import type { CommandContext } from './resource-commands.ts';

export interface BgpCommandDeps {
  /** Runs birdc; tests pass a fake. */
  runner?: CommandRunner;
}

export function registerBgpCommands(program: Command, ctx: CommandContext, deps: BgpCommandDeps = {}): void {
  const node = program.commands.find((c) => c.name() === 'node') ?? program.command('node').description('this host as a BGP speaker');
  node
    .command('status')
    .description('BGP sessions of this host, from BIRD\'s control socket')
    .option('--bird-socket <path>', 'BIRD control socket', ctx.io.env.BRINDLE_BIRD_SOCKET || DEFAULT_BIRD_SOCKET)
    .option('-o, --output <format>', 'table or json', 'table')
    .option('--all', 'every host, from the datastore (not available yet)')
    .action(async (opts: { birdSocket: string; output: string; all?: boolean }) => {
      if (opts.all) {
        throw new CliError('node status --all needs agents to publish their sessions to the datastore, which they do not yet; run it on each host', EXIT_USAGE);
      }
      if (opts.output !== 'table' && opts.output !== 'json') throw new CliError(`unknown output format "${opts.output}" (expected table, json)`, EXIT_USAGE);
      let sessions;
      try {
        sessions = await readBirdSessions(opts.birdSocket, deps.runner ?? new ProcessRunner());
      } catch (err) {
        throw new CliError(`BIRD is not running or not reachable: ${(err as Error).message}`);
      }
      if (opts.output === 'json') {
        ctx.io.stdout(`${JSON.stringify({ birdSocket: opts.birdSocket, sessions }, null, 2)}\n`);
        return;
      }
      ctx.io.stdout(`BIRD is running (control socket ${opts.birdSocket}).\n\n${formatBgpSessions(sessions)}`);
    });
}
