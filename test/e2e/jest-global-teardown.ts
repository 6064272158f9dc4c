export default async function globalTeardown(): Promise<void> {
  const began = Date.now();
  await globalThis.__ferryE2e?.stop();
  process.stderr.write(`e2e: torn down in ${Date.now() - began} ms\n`);
}
