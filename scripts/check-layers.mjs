// Lists the module-to-module imports of x402-core and fails on an import that runs up the
// layers or closes a circle. The layers, lowest first (crates/core/README.md draws them):
//
//   error < encoding < evm < wire < scheme < client < gate < lib.rs
//
// A module may import from its own layer and from the layers below it; `error` (at the crate
// root, used by every layer) imports from none. Every module must sit in one of these layers.
// A circle is any cycle between modules (files), inside a layer too: a parent `mod.rs` and its
// children count as separate modules, so a child never imports through its parent's re-exports.
// The binding crates (x402-browser, x402-worker) are checked for circles too, leaving out their
// lib.rs (the entry point, which every module may use for the context it holds).
//
// What counts as an import: every `use` declaration and every path in code that names a module
// of the crate (`crate::…`, `super::…`, `self::…`, a child module, or a name a `use` brought in;
// in a string too, as in `#[serde(with = "crate::…")]`), resolved to the file of the longest
// module it names. Comments (doc links included), other strings and `mod x;` declarations are
// not imports. `#[cfg]` is ignored: every feature's code is read.
//   node scripts/check-layers.mjs            (the listing, then the verdict; exit 1 on a failure)
//   node scripts/check-layers.mjs --quiet    (the verdict only)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'crates', 'core', 'src');
const LAYERS = ['error', 'encoding', 'evm', 'wire', 'scheme', 'client', 'gate', 'lib.rs'];
const BINDINGS = [['x402-browser', 'crates/browser/src'], ['x402-worker', 'crates/worker/src']];
const quiet = process.argv.includes('--quiet');

// ---- the modules: one per file ------------------------------------------------------------
function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? files(p) : name.endsWith('.rs') ? [p] : [];
  });
}
/** `a/b/mod.rs` and `a/b.rs` are `a::b`; `lib.rs` is the crate root `""`. */
function moduleOf(src, file) {
  const parts = path.relative(src, file).replace(/\.rs$/, '').split(path.sep);
  if (parts.at(-1) === 'mod' || (parts.length === 1 && parts[0] === 'lib')) parts.pop();
  return parts.join('::');
}
const name = (m) => m || 'lib.rs';
const layerOf = (m) => (m === '' ? 'lib.rs' : m.split('::')[0]);

// ---- comments, strings and character literals out (so `//! crate::x` is no import) ---------
/** The line breaks of a text left out, so line numbers stay right. */
const lines = (text) => '\n'.repeat(text.split('\n').length - 1);
function strip(src) {
  let out = '';
  let i = 0;
  const ident = /[A-Za-z0-9_]/;
  while (i < src.length) {
    if (src.startsWith('//', i)) {
      const j = src.indexOf('\n', i);
      i = j < 0 ? src.length : j;
      continue;
    }
    if (src.startsWith('/*', i)) {
      const start = i;
      let depth = 1;
      i += 2;
      while (i < src.length && depth) {
        if (src.startsWith('/*', i)) { depth++; i += 2; } else if (src.startsWith('*/', i)) { depth--; i += 2; } else i++;
      }
      out += ' ' + lines(src.slice(start, i));
      continue;
    }
    const raw = /^b?r(#*)"/.exec(src.slice(i, i + 12));
    if (raw && !ident.test(src[i - 1] ?? '')) {
      const start = i;
      const end = src.indexOf(`"${raw[1]}`, i + raw[0].length);
      i = end < 0 ? src.length : end + 1 + raw[1].length;
      out += '""' + lines(src.slice(start, i));
      continue;
    }
    if (src[i] === '"') {
      const start = ++i;
      while (i < src.length && src[i] !== '"') i += src[i] === '\\' ? 2 : 1;
      // A path in a string is a path all the same (`#[serde(with = "crate::…")]`).
      const text = src.slice(start, i++);
      out += /^(crate|super|self)(::[A-Za-z_][A-Za-z0-9_]*)+$/.test(text) ? ` ${text} ` : '""' + lines(text);
      continue;
    }
    if (src[i] === "'") {
      const lit = /^'(?:[^'\\\n]|\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.))'/.exec(src.slice(i, i + 12));
      if (lit) { i += lit[0].length; out += "' '"; continue; } // else a lifetime: keep it
    }
    out += src[i++];
  }
  return out;
}

// ---- `use` trees expanded into paths --------------------------------------------------------
/** `a::{b, c::{d as e, self}}` → [{path: [a, b], alias: b}, {path: [a, c, d], alias: e}, {path: [a, c], alias: c}]. */
function expandUse(text) {
  const tokens = text.match(/::|[{},*]|\bas\b|[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
  let k = 0;
  function tree(prefix) {
    const out = [];
    let seg = [...prefix];
    let grouped = false; // `seg` ended in a `{…}` group, already expanded
    const end = () => {
      if (seg.length > prefix.length && !grouped) out.push(leaf(seg, null));
      seg = [...prefix];
      grouped = false;
    };
    for (; k < tokens.length; k++) {
      const t = tokens[k];
      if (t === '::') continue;
      if (t === '{') {
        k++;
        out.push(...tree(seg)); // stops at the matching `}`
        grouped = true;
      } else if (t === ',') end();
      else if (t === '}') { end(); return out; }
      else if (t === 'as') { out.push(leaf(seg, tokens[++k])); grouped = true; }
      else seg.push(t);
    }
    end();
    return out;
  }
  function leaf(seg, alias) {
    if (seg.at(-1) === 'self') seg = seg.slice(0, -1);
    return { path: seg, alias: alias ?? (seg.at(-1) === '*' ? null : seg.at(-1)) };
  }
  return tree([]).filter((u) => u.path.length > 0);
}

// ---- the imports of a crate's modules -------------------------------------------------------
/** Every module (file) of the crate under `src` and the modules each imports. */
function imports(src) {
  const modules = new Map(); // module -> file
  const inline = new Map(); // inline module path -> the module (file) it is written in
  const texts = new Map();
  for (const file of files(src)) {
    const m = moduleOf(src, file);
    modules.set(m, file);
    texts.set(m, strip(readFileSync(file, 'utf8')));
  }
  for (const [m, text] of texts) {
    // Inline modules (`mod tests { … }`), with their nesting, to resolve `super` inside them.
    const base = m ? m.split('::') : [];
    const stack = [];
    let depth = 0;
    const opens = new Map();
    for (const x of text.matchAll(/\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{/g)) opens.set(x.index + x[0].length - 1, x[1]);
    const scopes = []; // [start, end, path]
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '{') {
        if (opens.has(i)) stack.push({ name: opens.get(i), depth, start: i });
        depth++;
      } else if (text[i] === '}') {
        depth--;
        if (stack.length && stack.at(-1).depth === depth) {
          const path = [...base, ...stack.map((s) => s.name)];
          scopes.push({ start: stack.at(-1).start, end: i, path });
          inline.set(path.join('::'), m);
          stack.pop();
        }
      }
    }
    texts.set(m, { text, scopes, base });
  }

  /** The module path at a position of a file (inline modules included). */
  function scopeAt(entry, at) {
    let best = entry.base;
    for (const s of entry.scopes) if (s.start < at && at < s.end && s.path.length > best.length) best = s.path;
    return best;
  }
  const known = (p) => modules.has(p) || inline.has(p);
  const fileOf = (p) => (modules.has(p) ? p : inline.get(p));

  /** The module a path names (its longest module prefix, as a file), or null outside the crate. */
  function resolve(segs, scope, aliases) {
    let base;
    let rest;
    if (segs[0] === 'crate') { base = []; rest = segs.slice(1); }
    else if (segs[0] === 'super' || segs[0] === 'self') {
      base = [...scope];
      let n = 0;
      while (segs[n] === 'super') { base.pop(); n++; }
      if (segs[n] === 'self') n++;
      rest = segs.slice(n);
    } else {
      const alias = aliasFor(segs[0], scope, aliases);
      if (alias) return resolve([...alias, ...segs.slice(1)], scope, aliases);
      if (!known([...scope, segs[0]].join('::'))) return null; // another crate (alloc, serde, …)
      base = [...scope];
      rest = segs;
    }
    const full = [...base, ...rest.filter((s) => s !== '*')];
    for (let n = full.length; n >= 0; n--) {
      const p = full.slice(0, n).join('::');
      if (known(p)) return fileOf(p);
    }
    return null;
  }
  function aliasFor(id, scope, aliases) {
    for (let s = [...scope]; ; s.pop()) {
      const found = aliases.get(s.join('::'))?.get(id);
      if (found) return found;
      if (!s.length) return null;
    }
  }

  const edges = new Map([...modules.keys()].map((m) => [m, new Map()])); // from -> (to -> first line)
  for (const [m, entry] of texts) {
    const { text } = entry;
    const aliases = new Map(); // scope -> (name -> absolute path)
    const line = (at) => text.slice(0, at).split('\n').length;
    const add = (to, at) => {
      if (to !== null && to !== m && !edges.get(m).has(to)) edges.get(m).set(to, line(at));
    };
    const uses = [];
    for (const x of text.matchAll(/\buse\s+([^;]*);/g)) {
      const scope = scopeAt(entry, x.index);
      uses.push([x.index, x.index + x[0].length]);
      for (const u of expandUse(x[1])) {
        // Absolute form of the path, so later `alias::…` paths resolve through it.
        const head = u.path[0];
        let abs = null;
        if (head === 'crate') abs = u.path;
        else if (head === 'super' || head === 'self') {
          const b = [...scope];
          let n = 0;
          while (u.path[n] === 'super') { b.pop(); n++; }
          if (u.path[n] === 'self') n++;
          abs = ['crate', ...b, ...u.path.slice(n)];
        } else if (known([...scope, head].join('::'))) abs = ['crate', ...scope, ...u.path];
        else if (aliasFor(head, scope, aliases)) abs = [...aliasFor(head, scope, aliases), ...u.path.slice(1)];
        if (!abs) continue;
        const key = scope.join('::');
        if (u.alias) {
          if (!aliases.has(key)) aliases.set(key, new Map());
          aliases.get(key).set(u.alias, abs);
        }
        // A module brought into scope is an import where it is used; anything else is one here.
        if (!known(abs.slice(1).join('::')) || u.path.at(-1) === '*') add(resolve(abs, scope, aliases), x.index);
      }
    }
    for (const x of text.matchAll(/(?<![A-Za-z0-9_:$])([a-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
      if (uses.some(([a, b]) => a <= x.index && x.index < b)) continue;
      add(resolve(x[1].split('::'), scopeAt(entry, x.index), aliases), x.index);
    }
  }
  return { modules, edges };
}

/** The circles between modules: each strongly connected component of more than one module
 *  (Tarjan), with one cycle through it. */
function circles(modules, edges) {
  const out = [];
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const circles = [];
  function connect(v) {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); onStack.add(v);
    for (const w of edges.get(v).keys()) {
      if (!idx.has(w)) { connect(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do { w = stack.pop(); onStack.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1) circles.push(scc);
    }
  }
  for (const v of [...modules.keys()].sort()) if (!idx.has(v)) connect(v);
  for (const scc of circles) {
    // One cycle through the component, for the message: a shortest way back to its first module.
    const inScc = new Set(scc);
    const start = [...scc].sort()[0];
    const prev = new Map([[start, null]]);
    const queue = [start];
    let back = null;
    while (queue.length && !back) {
      const v = queue.shift();
      for (const w of [...edges.get(v).keys()].sort()) {
        if (!inScc.has(w)) continue;
        if (w === start) { back = v; break; }
        if (!prev.has(w)) { prev.set(w, v); queue.push(w); }
      }
    }
    const cycle = [start];
    for (let v = back; v !== start; v = prev.get(v)) cycle.splice(1, 0, v);
    const members = scc.map(name).sort().join(', ');
    out.push(`circle among ${members}: ${[...cycle, start].map(name).join(' -> ')}`);
  }
  return out;
}

// ---- checks ---------------------------------------------------------------------------------
const { modules, edges } = imports(SRC);
const failures = [];
for (const m of modules.keys()) {
  if (!LAYERS.includes(layerOf(m))) failures.push(`no layer: ${name(m)} is in none of ${LAYERS.join(', ')}`);
}
const rank = (m) => LAYERS.indexOf(layerOf(m));
for (const [from, tos] of edges) {
  for (const [to, at] of tos) {
    const up = rank(to) > rank(from) || (layerOf(from) === 'error' && to !== from);
    if (up && LAYERS.includes(layerOf(from)) && LAYERS.includes(layerOf(to))) {
      failures.push(`upward: ${name(from)} (${layerOf(from)}) imports ${name(to)} (${layerOf(to)}), ${path.relative(ROOT, modules.get(from))}:${at}`);
    }
  }
}
failures.push(...circles(modules, edges));
// The binding crates have no layers, but no circle either, their crate root left out: lib.rs is
// the entry point, which dispatches to every module and holds the context they share.
const bindings = BINDINGS.map(([crate, dir]) => {
  const b = imports(path.join(ROOT, dir));
  b.edges.delete('');
  for (const tos of b.edges.values()) tos.delete('');
  b.modules.delete('');
  const found = circles(b.modules, b.edges);
  failures.push(...found.map((f) => `${crate}: ${f}`));
  const n = [...b.edges.values()].reduce((k, t) => k + t.size, 0);
  return `${crate}: ${b.modules.size} modules, ${n} imports, ${found.length ? 'circles' : 'no circle'}`;
});

// ---- report ---------------------------------------------------------------------------------
const count = [...edges.values()].reduce((n, t) => n + t.size, 0);
if (!quiet) {
  console.log('x402-core: module -> the modules it imports');
  for (const m of [...modules.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))) {
    const tos = [...edges.get(m).keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    console.log(`  ${name(m)} -> ${tos.length ? tos.map(name).join(', ') : '(nothing)'}`);
  }
  console.log(`\nlayers, lowest first: ${LAYERS.join(' < ')}`);
  for (const layer of LAYERS) {
    const below = new Set();
    for (const [from, tos] of edges) {
      if (layerOf(from) !== layer) continue;
      for (const to of tos.keys()) if (layerOf(to) !== layer) below.add(layerOf(to));
    }
    const list = [...below].sort((a, b) => LAYERS.indexOf(a) - LAYERS.indexOf(b));
    console.log(`  ${layer} -> ${list.length ? list.join(', ') : '(nothing)'}`);
  }
  for (const b of bindings) console.log(b);
  console.log('');
}
if (failures.length) {
  for (const f of failures) console.error(`check-layers: ${f}`);
  console.error(`check-layers: FAILED (${failures.length} problem${failures.length > 1 ? 's' : ''}; ${modules.size} modules, ${count} imports)`);
  process.exit(1);
}
console.log(`check-layers: ok (x402-core: ${modules.size} modules, ${count} imports, none upward, no circle; no circle in x402-browser and x402-worker)`);
