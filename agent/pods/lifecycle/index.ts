// Container lifecycle hooks (postStart / preStop).
export {
  runHook, remainingGracePeriod, FAILED_POST_START_HOOK, FAILED_PRE_STOP_HOOK, MIN_GRACE_PERIOD_SECONDS,
  type LifecycleHandler, type HookContext, type HookResult, type HookKind, type SleepAction,
} from './hooks.js';
