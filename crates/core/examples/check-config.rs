//! Validates the x402 paywall configuration of a `wrangler.toml` before the Worker is built:
//! every `[vars.X402]` and `[env.<name>.vars.X402]` (a table, or a string holding JSON) goes
//! through the same `x402_core::gate::config::Config::from_json` the Worker runs per request.
//! `scripts/build-worker` (wrangler's `[build]` command, so every `wrangler dev`/`deploy`) runs
//! it first, so a bad configuration stops the build with the field's name.
//!
//! Usage: `cargo run -q -p x402-core --example check-config -- path/to/wrangler.toml`
//! Exit status: 0 valid, 1 invalid (message on stderr), 2 unreadable file.

use std::process::ExitCode;
use x402_core::gate::config::Config;

fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "wrangler.toml".into());
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("check-config: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let doc: toml::Table = match toml::from_str(&text) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("check-config: {path}: not TOML: {e}");
            return ExitCode::from(2);
        }
    };
    let mut found = Vec::new();
    if let Some(v) = doc.get("vars").and_then(|v| v.get("X402")) {
        found.push(("[vars.X402]".to_string(), v));
    }
    if let Some(envs) = doc.get("env").and_then(toml::Value::as_table) {
        for (name, env) in envs {
            if let Some(v) = env.get("vars").and_then(|v| v.get("X402")) {
                found.push((format!("[env.{name}.vars.X402]"), v));
            }
        }
    }
    if found.is_empty() {
        eprintln!("check-config: {path}: no [vars.X402] table (the paywall configuration)");
        return ExitCode::from(1);
    }
    let mut ok = true;
    for (label, value) in found {
        let json = match value {
            toml::Value::String(s) => {
                serde_json::from_str(s).map_err(|e| format!("X402: not JSON: {e}"))
            }
            other => serde_json::to_value(other).map_err(|e| format!("X402: {e}")),
        };
        match json.and_then(|j| Config::from_json(&j).map_err(|e| format!("X402: {e}"))) {
            Ok(c) => println!(
                "check-config: {path} {label}: ok ({} routes)",
                c.routes.len()
            ),
            Err(e) => {
                eprintln!("check-config: {path} {label}: invalid configuration: {e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
