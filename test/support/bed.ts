// How an integration test reaches the bed started by the jest global setup.
import type { BedEndpoints } from '../bed/controlPlane.ts';

export function bedEndpoints(): BedEndpoints {
  const raw = process.env.FERRY_BED;
  if (!raw)
    throw new Error('FERRY_BED is not set: integration tests run under the jest global setup (make test)');
  return JSON.parse(raw) as BedEndpoints;
}
