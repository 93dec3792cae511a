// Lists the largest functions of a wasm module (needs its name section), grouped by crate.
//   node bench/wasm-top.mjs file.wasm [N]
import { readFileSync } from 'node:fs';
const buf = readFileSync(process.argv[2]);
const N = Number(process.argv[3] ?? 40);
let p = 8;
const leb = () => { let r = 0, s = 0, b; do { b = buf[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
let imports = 0; const bodies = []; const names = new Map(); let dataSize = 0;
while (p < buf.length) {
  const id = buf[p++]; const size = leb(); const end = p + size;
  if (id === 2) { const n = leb(); for (let i = 0; i < n; i++) { { const l1 = leb(); p += l1; } { const l2 = leb(); p += l2; } const k = buf[p++];
      if (k === 0) { leb(); imports++; } else if (k === 1) { p++; const f = buf[p++]; leb(); if (f & 1) leb(); }
      else if (k === 2) { const f = buf[p++]; leb(); if (f & 1) leb(); } else if (k === 3) { p += 2; } } }
  else if (id === 10) { const n = leb(); for (let i = 0; i < n; i++) { const s = leb(); bodies.push(s); p += s; } }
  else if (id === 11) dataSize += size;
  else if (id === 0) { const nl = leb(); const nm = buf.subarray(p, p + nl).toString(); p += nl;
    if (nm === 'name') while (p < end) { const sub = buf[p++]; const ss = leb(); const se = p + ss;
      if (sub === 1) { const n = leb(); for (let i = 0; i < n; i++) { const idx = leb(); const l = leb(); names.set(idx, buf.subarray(p, p + l).toString()); p += l; } }
      p = se; } }
  p = end;
}
const rows = bodies.map((s, i) => [s, names.get(i + imports) ?? `#${i + imports}`]);
const total = rows.reduce((a, [s]) => a + s, 0);
console.log(`code ${total} B in ${rows.length} functions; data ${dataSize} B`);
const groups = new Map();
for (const [s, n] of rows) { const m = n.match(/^_?<?([a-z_0-9]+)::/) || n.match(/^([a-z_0-9]+)::/); const g = m ? m[1] : n.startsWith('<') ? n.slice(1).split('::')[0] : 'other'; groups.set(g, (groups.get(g) ?? 0) + s); }
console.log([...groups].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([g, s]) => `${String(s).padStart(7)} ${g}`).join('\n'));
console.log('---');
console.log(rows.sort((a, b) => b[0] - a[0]).slice(0, N).map(([s, n]) => `${String(s).padStart(7)} ${n.slice(0, 150)}`).join('\n'));
if (process.env.WASM_GROUPS) {
  const keys = process.env.WASM_GROUPS.split(',');
  const acc = Object.fromEntries(keys.map((k) => [k, 0])); acc.rest = 0;
  for (const [s, n] of rows) { const k = keys.find((k) => n.includes(k)); acc[k ?? 'rest'] += s; }
  console.log(acc);
}
