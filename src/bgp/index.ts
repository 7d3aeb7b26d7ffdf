// Public face of src/bgp: the BIRD 2 config renderer (pure), the BIRD supervisor and the parser of
// BIRD's protocol status. The agent renders and supervises; brindlectl reads status. Other folders
// import bgp only through this file.

export * from './bird-config.ts';
export * from './bird-supervisor.ts';
export * from './bird-status.ts';
