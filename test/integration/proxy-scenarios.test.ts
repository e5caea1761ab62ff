// Every proxy mode this kernel has, held to the same behaviour: the scenario table of
// test/harness/proxy-scenarios.ts with real packets between netns. KNA_PROXY_MODES
// picks the modes (the IPVS run inside a VM sets it to ipvs).
import { after, before, describe, test } from 'node:test';
import { modesUnderTest } from '../harness/proxy-modes.js';
import { ProxyFixture, SCENARIOS } from '../harness/proxy-scenarios.js';

for (const mode of modesUnderTest()) {
  describe(`proxy mode ${mode}`, () => {
    const f = new ProxyFixture(mode);
    before(() => f.setUp());
    after(() => f.close());
    for (const s of SCENARIOS.filter((x) => !x.modes || x.modes.includes(mode))) {
      test(s.name, async () => {
        let ok = false;
        try {
          await s.run(f);
          ok = true;
        } finally {
          // A failed scenario's own error is the one worth reading.
          await (ok ? f.endScenario() : f.abandonScenario());
        }
      });
    }
  });
}
