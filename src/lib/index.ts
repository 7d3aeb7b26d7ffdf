// Public face of src/lib: the shared error family and CIDR arithmetic. Other folders import lib
// only through this file (DESIGN.md layering rule).

export * from './errors.ts';
export * from './cidr.ts';
export * from './kernel-names.ts';
export * from './poll.ts';
