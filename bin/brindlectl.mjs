#!/usr/bin/env node
// Launcher for brindlectl: registers the TypeScript loader, then runs src/bin/brindlectl.ts.
import { register } from 'tsx/esm/api';

register();
await import('../src/bin/brindlectl.ts');
