#!/usr/bin/env node
// Launcher for brindle-agent: registers the TypeScript loader, then runs src/bin/brindle-agent.ts.
import { register } from 'tsx/esm/api';

register();
await import('../src/bin/brindle-agent.ts');
