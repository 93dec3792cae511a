// A module service worker: static imports only (service workers cannot use import()), and no
// top-level await anywhere in the module graph (Chromium then refuses to start the worker), so it
// takes js/lazy.js, not js/web.js. Each message carries a job and a MessagePort; the result of
// pay() goes back through the port.
import * as x402 from '/js/lazy.js';
import { pay } from './pay.js';

// Installing waits for the wasm module, so a module that cannot load fails the registration.
self.addEventListener('install', (event) => event.waitUntil(x402.ready.then(() => self.skipWaiting())));
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('message', (event) => {
  const [port] = event.ports;
  event.waitUntil(pay(x402, event.data).then((result) => port.postMessage(result)));
});
