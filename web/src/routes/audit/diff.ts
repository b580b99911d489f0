// The audit log's before/after values as a readable diff: both JSON values
// are flattened into paths (limits.rpm, models[2]) and compared leaf by
// leaf, so a change deep in a settings object reads as one line.

export type DiffKind = 'added' | 'removed' | 'changed' | 'same';

export interface DiffLine {
  path: string;
  kind: DiffKind;
  before?: string; // JSON text of the leaf; absent when the path is new
  after?: string; // absent when the path is gone
}

const ident = /^[A-Za-z_][A-Za-z0-9_]*$/;

function join(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (ident.test(key)) return base ? `${base}.${key}` : key;
  return `${base}[${JSON.stringify(key)}]`;
}

// flatten maps each leaf (a scalar, an empty object or an empty array) to
// its JSON text. A scalar at the root has the path "" (shown as "value").
export function flatten(v: unknown, base = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(v)) {
    if (v.length === 0) out.set(base, '[]');
    v.forEach((x, i) => flatten(x, join(base, i), out));
  } else if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v as object);
    if (keys.length === 0) out.set(base, '{}');
    for (const k of keys) flatten((v as Record<string, unknown>)[k], join(base, k), out);
  } else if (v !== undefined) {
    out.set(base, JSON.stringify(v));
  }
  return out;
}

// diff compares before and after (null/undefined: nothing there). Lines
// follow the after value's order, then paths only before had.
export function diff(before: unknown, after: unknown): DiffLine[] {
  const b = before === null || before === undefined ? new Map<string, string>() : flatten(before);
  const a = after === null || after === undefined ? new Map<string, string>() : flatten(after);
  const lines: DiffLine[] = [];
  for (const [path, av] of a) {
    if (!b.has(path)) lines.push({ path, kind: 'added', after: av });
    else if (b.get(path) !== av) lines.push({ path, kind: 'changed', before: b.get(path), after: av });
    else lines.push({ path, kind: 'same', before: av, after: av });
  }
  for (const [path, bv] of b) if (!a.has(path)) lines.push({ path, kind: 'removed', before: bv });
  return lines;
}

// changed is the lines that differ.
export function changed(lines: DiffLine[]): DiffLine[] {
  return lines.filter((l) => l.kind !== 'same');
}
