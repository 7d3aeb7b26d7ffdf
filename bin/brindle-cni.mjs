#!/usr/bin/env node
// Launcher for brindle-cni: registers the TypeScript loader, then runs src/bin/brindle-cni.ts.
import { register } from 'tsx/esm/api';

register();
await import('../src/bin/brindle-cni.ts');
