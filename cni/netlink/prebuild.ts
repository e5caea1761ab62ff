// The `netlink` package's N-API socket addon, embedded as bytes so the bundled
// plugin stays one file (esbuild inlines `type: 'bytes'` imports). Only loaded
// when the extracted copy is missing; see binding.ts.
import bytes from 'netlink/prebuilds/linux-x64/node.napi.node' with { type: 'bytes' };

export default bytes;
