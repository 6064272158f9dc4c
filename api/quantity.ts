// Kubernetes quantities as the CRD accepts them for spec.bandwidthLimit
// ("100Mi", "500M", "1.5G", 1048576): bytes per second, as an integer.
const suffixes: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const pattern = /^((?:[0-9]+(?:\.[0-9]*)?)|(?:\.[0-9]+))([KMGTPE]i|[kMGTPE])?$/;

/** The quantity in bytes (rounded down); throws a message naming the value when it is no quantity. */
export function parseByteQuantity(value: number | string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`"${value}" is not a non-negative quantity`);
    return Math.floor(value);
  }
  const match = pattern.exec(value.trim());
  if (!match) throw new Error(`"${value}" is not a quantity such as 100Mi, 500M or 1048576`);
  return Math.floor(Number(match[1]) * suffixes[match[2] ?? '']!);
}
