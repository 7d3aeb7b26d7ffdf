// brindlectl executable: hands argv to the CLI and exits with its status.
import { runCli } from '../cli/index.ts';

process.exitCode = await runCli(process.argv.slice(2));
