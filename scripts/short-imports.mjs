// Renames the wasm-bindgen imports and exports of a module to short names, in the .wasm and in
// its JS glue, the way Emscripten minifies them: wasm-bindgen names each import after the
// function plus a 16-hex-digit hash (`__wbg_get_c42bb39aefa91ee8`), which gzip cannot compress
// and which both files carry, and the glue calls exports by long names (`wasm.payer_quote`).
// Only the names change; the module's code and the glue's code stay as built. A name the glue
// uses in any other way is kept.
//   node scripts/short-imports.mjs pkg/web/x402_bg.wasm pkg/web/x402.js
import { readFileSync, writeFileSync } from 'node:fs';

const [wasmPath, jsPath] = process.argv.slice(2);
const wasm = readFileSync(wasmPath);
let js = readFileSync(jsPath, 'utf8');

function leb(buf, at) {
  let value = 0, shift = 0, b;
  do { b = buf[at++]; value += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
  return [value, at];
}
function uleb(n) {
  const out = [];
  do { let b = n & 0x7f; n = Math.floor(n / 128); if (n) b |= 0x80; out.push(b); } while (n);
  return Buffer.from(out);
}
const name = (s) => Buffer.concat([uleb(Buffer.byteLength(s)), Buffer.from(s)]);
// a, b, …, z, aa, ab, … (never a JS keyword: the glue uses them as quoted-free object keys).
const short = (i) => (i < 26 ? String.fromCharCode(97 + i) : short(Math.floor(i / 26) - 1) + String.fromCharCode(97 + (i % 26)));

// The export section, with each function export that the glue uses only as `wasm.<name>`
// renamed to a short name (upper case: apart from the imports').
const exported = new Map();
function exportSection(at) {
  let [count, q] = leb(wasm, at);
  const entries = [];
  for (let i = 0; i < count; i++) {
    const [nl, ns] = leb(wasm, q); const field = wasm.subarray(ns, ns + nl).toString(); q = ns + nl;
    const kind = wasm[q];
    const [, next] = leb(wasm, q + 1);
    const uses = js.split(field).length - 1;
    let newField = field;
    if (kind === 0 && uses > 0 && uses === js.split(new RegExp(`wasm\\.${field}\\b`)).length - 1) {
      newField = `_${short(exported.size).toUpperCase()}`;
      exported.set(field, newField);
    }
    entries.push(Buffer.concat([name(newField), wasm.subarray(q, next)]));
    q = next;
  }
  const body = Buffer.concat([uleb(count), ...entries]);
  return Buffer.concat([Buffer.from([7]), uleb(body.length), body]);
}

if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error(`${wasmPath}: not a wasm module`);
const parts = [wasm.subarray(0, 8)];
const renamed = new Map();
let p = 8;
while (p < wasm.length) {
  const id = wasm[p];
  const [size, bodyAt] = leb(wasm, p + 1);
  const end = bodyAt + size;
  if (id === 7) { parts.push(exportSection(bodyAt)); p = end; continue; }
  if (id !== 2) { parts.push(wasm.subarray(p, end)); p = end; continue; }
  // The import section: (module, name, kind, type) entries.
  let [count, q] = leb(wasm, bodyAt);
  const entries = [];
  for (let i = 0; i < count; i++) {
    const [ml, ms] = leb(wasm, q); const module = wasm.subarray(ms, ms + ml).toString(); q = ms + ml;
    const [fl, fs] = leb(wasm, q); const field = wasm.subarray(fs, fs + fl).toString(); q = fs + fl;
    const descAt = q;
    const kind = wasm[q++];
    if (kind === 0) [, q] = leb(wasm, q);
    else if (kind === 1) { q++; const flags = wasm[q++]; [, q] = leb(wasm, q); if (flags & 1) [, q] = leb(wasm, q); }
    else if (kind === 2) { const flags = wasm[q++]; [, q] = leb(wasm, q); if (flags & 1) [, q] = leb(wasm, q); }
    else if (kind === 3) q += 2;
    else throw new Error(`unknown import kind ${kind}`);
    let newField = field;
    // Only wasm-bindgen's own function imports, and only where the glue names each exactly once.
    if (kind === 0 && /^__wbg_|^__wbindgen_/.test(field) && js.split(`${field}:`).length === 2) {
      newField = `_${short(renamed.size)}`;
      renamed.set(field, newField);
    }
    entries.push(Buffer.concat([name(module), name(newField), wasm.subarray(descAt, q)]));
  }
  const body = Buffer.concat([uleb(count), ...entries]);
  parts.push(Buffer.from([2]), uleb(body.length), body);
  p = end;
}
for (const [from, to] of renamed) js = js.replace(`${from}:`, `${to}:`);
for (const [from, to] of exported) js = js.replace(new RegExp(`wasm\\.${from}\\b`, 'g'), `wasm.${to}`);
writeFileSync(wasmPath, Buffer.concat(parts));
writeFileSync(jsPath, js);
console.log(`short-imports: ${renamed.size} imports and ${exported.size} exports renamed in ${wasmPath} and ${jsPath}`);
