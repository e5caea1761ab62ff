// Container probes (liveness, readiness, startup). See manager.ts for the rules.
export * from './types.js';
export { ProbeManager, type ProbeEvent, type ProbeManagerEvents, type ProbeManagerOptions, type AddContainerOptions } from './manager.js';
export { probeTiming, initialResult, ThresholdTracker, holdsAfter, type ProbeTiming } from './state.js';
export { runProbe, type ProbeRunner, type ProbeTarget, type RunOptions } from './run.js';
export { httpGetProbe, buildHttpRequest, PROBE_USER_AGENT, LIFECYCLE_USER_AGENT } from './http.js';
export { tcpProbe } from './tcp.js';
export { grpcProbe, healthService, healthProtoPath } from './grpc.js';
export { execProbe } from './exec.js';
export { resolvePort, resolveHost } from './target.js';
export { realClock, type Clock } from './clock.js';
