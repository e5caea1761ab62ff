// IPVS schedulers (--ipvs-scheduler). Pure, so the config module can validate the
// flag without loading the proxy.

/** The schedulers kube-proxy accepts; each is its own kernel module, ip_vs_<name>. */
export const IPVS_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'sh', 'dh', 'sed', 'nq', 'mh'] as const;
export type IpvsScheduler = (typeof IPVS_SCHEDULERS)[number];
export const DEFAULT_IPVS_SCHEDULER: IpvsScheduler = 'rr';

export const isIpvsScheduler = (s: string): s is IpvsScheduler => (IPVS_SCHEDULERS as readonly string[]).includes(s);

/** The kernel option that builds the scheduler: rr -> CONFIG_IP_VS_RR. */
export const schedulerKernelOption = (s: IpvsScheduler): string => `CONFIG_IP_VS_${s.toUpperCase()}`;
