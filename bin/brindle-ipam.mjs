#!/usr/bin/env node
// Launcher for brindle-ipam: registers the TypeScript loader, then runs src/bin/brindle-ipam.ts.
import { register } from 'tsx/esm/api';

register();
await import('../src/bin/brindle-ipam.ts');
