//! Native twin of the Worker's `benchVerify` (bench/worker-verify.mjs), for profiling the
//! per-payment verification with native tools (e.g. `valgrind --tool=callgrind`):
//! decodes a `PAYMENT-SIGNATURE` value and runs `verify_v2` `iterations` times.
//!
//! `cargo run --release -p x402-core --example verify-bench -- HEADER_FILE REQS_FILE NOW [ITERATIONS]`
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() >= 4,
        "usage: verify-bench HEADER_FILE REQS_FILE NOW [ITERATIONS]"
    );
    let header = std::fs::read_to_string(&args[1]).expect("header file");
    let reqs: Vec<x402_core::wire::PaymentRequirements> =
        serde_json::from_str(&std::fs::read_to_string(&args[2]).expect("requirements file"))
            .expect("requirements JSON");
    let now: u64 = args[3].parse().expect("now");
    let n: u32 = args.get(4).map_or(1000, |s| s.parse().expect("iterations"));
    let t0 = std::time::Instant::now();
    let mut ok = 0;
    for _ in 0..n {
        let v = x402_core::wire::header::decode_payment_signature(header.trim())
            .and_then(|p| x402_core::scheme::exact::verify::verify_v2(&p, &reqs, now));
        if v.is_ok() {
            ok += 1;
        }
    }
    let us = t0.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("{ok}/{n} verified, {us:.1} µs per payment");
}
