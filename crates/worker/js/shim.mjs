// The Worker's JS entry: instantiates the Rust module (wasm-bindgen --target web output next to
// this file in build/worker/) and exposes its fetch handler and Durable Object classes.
// scripts/build-worker copies it there; wrangler.toml's `main` points at the copy.
//
// The release profile aborts on panic, which traps the wasm instance. The core never panics on
// input (every failure is a reason-coded error); if it ever does, the instance is reset and the
// client gets a reason-coded 500 instead of a dead isolate.
import init, * as rust from "./x402_worker.js";
import wasmModule from "./x402_worker_bg.wasm";
import { unpaidArgs, unpaidResponse } from "./unpaid.mjs";

rust.initSync({ module: wasmModule });

function trapped(e) {
  console.error("x402-worker: wasm trap", e);
  if (e instanceof WebAssembly.RuntimeError && typeof rust.__wbg_reset_state === "function") {
    rust.__wbg_reset_state();
  }
  return new Response(
    JSON.stringify({ error: "unexpected_verify_error", message: "internal error in the paywall; nothing was charged" }),
    { status: 500, headers: { "content-type": "application/json", "cache-control": "no-store" } },
  );
}

// An unpaid GET of a priced page is most of a paywall's traffic: its 402 comes from one
// synchronous call into the module (`unpaidChallenge` in crates/worker/src/lib.rs decides, from
// the same configuration and rules as the full handler, and answers only where that handler
// would answer the same 402; it keeps each such 402's headers and body, built once), without the
// request wrappers and async glue of `fetch`.
function unpaid(request, env) {
  const args = unpaidArgs(request);
  return args && rust.unpaidChallenge(env, ...args);
}

export default {
  async fetch(request, env, ctx) {
    try {
      const parts = unpaid(request, env);
      if (parts) return unpaidResponse(parts);
      return await rust.fetch(request, env, ctx);
    } catch (e) {
      return trapped(e);
    }
  },
};

function durable(Inner) {
  return class {
    constructor(state, env) {
      this.inner = new Inner(state, env);
    }
    async fetch(request) {
      try {
        return await this.inner.fetch(request);
      } catch (e) {
        return trapped(e);
      }
    }
    async alarm() {
      if (typeof this.inner.alarm !== "function") return;
      try {
        await this.inner.alarm();
      } catch (e) {
        trapped(e);
        throw e; // the runtime retries a failed alarm
      }
    }
  };
}

export const ReplayGuard = durable(rust.ReplayGuard);
export const Relayer = durable(rust.Relayer);
export const Channel = durable(rust.Channel);
void init;
