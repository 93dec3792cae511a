// A `{ getItem, setItem }` kept in a JSON file, for Node: `channels: { storage: '/path/x402.json' }`
// keeps an agent's channels (and its voucher key) across restarts.
import { readFileSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const fail = (code, message) => Object.assign(new Error(message), { code });

/**
 * The storage in the file at `path` (created on the first write, mode 0600: it holds the voucher
 * key). Every write replaces the file through a temporary file and a rename, so a crash leaves the
 * old or the new content, never half of it. A file that is not a JSON object throws
 * `invalid_config` rather than being overwritten (it may hold the only copy of a voucher key).
 */
export function fileStorage(path) {
  const load = () => {
    let text;
    try { text = readFileSync(path, 'utf8'); } catch (e) {
      if (e?.code === 'ENOENT') return {};
      throw fail('invalid_config', `channels.storage ${path}: ${e?.message ?? e}`);
    }
    let items;
    try { items = JSON.parse(text); } catch { /* reported below */ }
    if (items === null || typeof items !== 'object' || Array.isArray(items)) {
      throw fail('invalid_config', `channels.storage ${path}: not a JSON object; left as it is`);
    }
    return items;
  };
  return {
    getItem(key) {
      const items = load();
      return typeof items[key] === 'string' ? items[key] : null;
    },
    setItem(key, value) {
      const items = load();
      items[key] = String(value);
      mkdirSync(dirname(path), { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(items, null, 1), { mode: 0o600 });
      renameSync(tmp, path);
    },
  };
}

/** `storage` itself, or the file's storage when it is a path. */
export const storageAt = (storage) => (typeof storage === 'string' ? fileStorage(storage) : storage);

/** `options` with a `channels.storage` path replaced by the file's storage. */
export function withFileStorage(options) {
  const s = options?.channels?.storage;
  return typeof s === 'string' ? { ...options, channels: { ...options.channels, storage: storageAt(s) } } : options;
}
