// Public face of src/calc: policy normalisation and Kubernetes conversion, rule compilation, the
// snapshot and incremental (calc graph) computations of a host's desired state, the reference
// evaluator behind `policy trace`, and the simulated conformance runner.

export * from './labels.ts';
export * from './k8s-conversion.ts';
export * from './policy-model.ts';
export * from './rule-compiler.ts';
export * from './policy-programs.ts';
export * from './tier-order.ts';
export * from './endpoints.ts';
export * from './profiles.ts';
export * from './routes.ts';
export * from './snapshot-state.ts';
export * from './evaluator.ts';
export * from './rule-text.ts';
export * from './selector-index.ts';
export * from './calc-graph.ts';
export * from './conformance.ts';
