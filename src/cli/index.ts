// Public entry of the command line package: the bin file calls runCli.
export { runCli, BRINDLE_VERSION } from './main.ts';
export { memoryIO, processIO } from './io.ts';
export type { CliIO } from './io.ts';
