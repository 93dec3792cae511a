// The test page's side: starts the workers and relays jobs to them. Every wait has a timeout with
// a message saying what did not happen.
const within = (ms, what, promise) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms))]);

/** Runs `job` in a fresh dedicated module Web Worker running `script`. */
window.inWebWorker = (job, script = '/worker.js', ms = 90_000) =>
  within(ms, `the Web Worker ${script} did not answer`, new Promise((resolve, reject) => {
    const worker = new Worker(script, { type: 'module' });
    worker.addEventListener('error', (e) => { worker.terminate(); reject(new Error(`Web Worker error: ${e.message || 'failed to load the module'}`)); });
    worker.addEventListener('messageerror', () => { worker.terminate(); reject(new Error('Web Worker messageerror')); });
    worker.addEventListener('message', ({ data }) => {
      if (data.type === 'ready') worker.postMessage(job);
      else if (data.type === 'result') { worker.terminate(); resolve(data.result); }
    });
  }));

/** Registers the module service worker (once) and runs `job` in it through a MessageChannel. */
window.inServiceWorker = async (job, ms = 90_000) => {
  let registration;
  try {
    registration = await within(ms, 'service worker registration', navigator.serviceWorker.register('/sw.js', { type: 'module', scope: '/' }));
  } catch (e) {
    throw new Error(`registering /sw.js failed: ${e?.name}: ${e?.message}`);
  }
  await within(ms, 'the service worker did not become active', navigator.serviceWorker.ready);
  const active = registration.active;
  if (!active) throw new Error('no active service worker after ready');
  return within(ms, 'the service worker did not answer', new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = ({ data }) => resolve(data);
    active.postMessage(job, [channel.port2]);
  }));
};

document.body.dataset.ready = '1';
