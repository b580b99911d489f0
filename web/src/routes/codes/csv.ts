// CSV for the batch of codes just generated: the codes exist in clear only
// in the answer to the request that made them, so their file is written
// here, in the browser. Cells are quoted as RFC 4180 says, and free text
// that a spreadsheet would read as a formula is prefixed with ' as the
// server's own export does.

export function cell(s: string): string {
  let v = s;
  if (v !== '' && '=+-@\t\r'.includes(v[0])) v = "'" + v;
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function csv(rows: string[][]): string {
  return rows.map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

export interface Batch {
  codes: string[];
  value_micros: number;
  batch: string;
  expires_at?: string | null;
}

// usd6 writes micro-USD with all six decimals, as the server's CSV does:
// 1500000 → "1.500000".
export function usd6(micros: number): string {
  const v = BigInt(Math.trunc(micros));
  const neg = v < 0n;
  const a = neg ? -v : v;
  return `${neg ? '-' : ''}${a / 1_000_000n}.${(a % 1_000_000n).toString().padStart(6, '0')}`;
}

export function batchCSV(b: Batch): string {
  const rows = [['code', 'value_usd', 'batch', 'expires_at']];
  for (const c of b.codes) rows.push([c, usd6(b.value_micros), b.batch, b.expires_at ?? '']);
  return csv(rows);
}

// batchFileName: codes-<batch>.csv with the batch name made file-safe.
export function batchFileName(batch: string, now = new Date()): string {
  const safe = batch.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  return `codes-${safe || now.toISOString().slice(0, 19).replace(/[-:T]/g, '')}.csv`;
}

// localToISO turns a datetime-local input's value (the admin's wall clock)
// into an RFC 3339 instant; '' stays '' (no expiry), garbage is undefined.
export function localToISO(v: string): string | undefined {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}
