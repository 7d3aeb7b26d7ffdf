// brindle-agent executable: the per-host agent (see src/agent/agent.ts). Exit 2 for bad flags, 0 after
// SIGTERM/SIGINT (the dataplane stays programmed), 1 when it could not run.
import { runAgentCli } from '../agent/index.ts';

process.exitCode = await runAgentCli(process.argv.slice(2));
