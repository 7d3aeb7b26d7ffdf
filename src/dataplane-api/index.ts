// Public face of src/dataplane-api: the messages between the calc graph and the dataplane, the
// desired-state tables they build, and the reference semantics of compiled rule programs.

export * from './messages.ts';
export * from './policy-walk.ts';
export * from './desired-state.ts';
