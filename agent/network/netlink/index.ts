export * from './codec.js';
export * from './types.js';
export { NetlinkError, Rtnl } from './rtnl.js';
