// KNA_CNI_TRACE=1 prints milliseconds since process start at named points to
// stderr; KNA_CNI_TRACE=/some/file appends them there instead (a runtime keeps a
// plugin's stderr only when it fails). Shows where a pod's network set-up spends
// its time.
import { appendFileSync } from 'node:fs';

const dest = process.env.KNA_CNI_TRACE;
const tag = `${process.env.CNI_COMMAND ?? '?'} ${process.env.CNI_CONTAINERID?.slice(0, 12) ?? ''}`;

export function trace(label: string): void {
  if (!dest) return;
  const line = `kna-cni ${tag} ${performance.now().toFixed(1)}ms ${label}\n`;
  if (dest.startsWith('/')) appendFileSync(dest, line);
  else process.stderr.write(line);
}
