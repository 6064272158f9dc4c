import { parseByteQuantity } from '../../../api/quantity.ts';

describe('bandwidth quantities', () => {
  it.each([
    ['100Mi', 100 * 1024 * 1024],
    ['500M', 500_000_000],
    ['1.5G', 1_500_000_000],
    ['.5Ki', 512],
    ['64k', 64_000],
    ['1048576', 1048576],
    [2048, 2048],
  ])('%s is %d bytes per second', (value, bytes) => {
    expect(parseByteQuantity(value)).toBe(bytes);
  });

  it.each(['', 'fast', '10 Mi', '-1', '1MB', '1mi'])('refuses %j, naming it', (value) => {
    expect(() => parseByteQuantity(value)).toThrow(`"${value}" is not a quantity`);
  });
});
