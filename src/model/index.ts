// Public face of src/model: resource types, the kind registry, the selector language, validation,
// defaulting and the manifest codecs. Other folders import model only through this file.

export * from './types.ts';
export * from './kinds.ts';
export * from './selector.ts';
export * from './validate.ts';
export * from './defaults.ts';
export * from './manifest.ts';
