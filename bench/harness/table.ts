// Plain-text tables for the benchmarks' reports (console.table adds an index
// column and quotes every string).
export type Row = Record<string, string | number>;

export function printTable(title: string, rows: Row[]): void {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (r: Row, c: string) => String(r[c] ?? '');
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
  const line = (values: string[]) => `  ${values.map((v, i) => v.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  console.log(`\n${title}`);
  console.log(line(columns));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(columns.map((c) => cell(r, c))));
}
