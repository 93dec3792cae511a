//! `X-PAYMENT` (client → server, v1): decode, round-trip, then verify against a fixed v1
//! requirement (the specification's Base Sepolia USDC example) at a fixed time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x402_core::scheme::exact::verify;
use x402_core::wire::header;
use x402_core::U256;
use x402_core_fuzz::{
    check_error, check_header, check_verdict, fixed_v1_requirement, header_value, AMOUNT, NOW,
};

fuzz_target!(|data: &[u8]| {
    let Some(value) = header_value(data) else {
        return;
    };
    let Ok(payment) = header::decode_x_payment(&value) else {
        return;
    };
    check_header(&payment, header::decode_x_payment);
    let e = header::decode_payment_signature(&value).expect_err("a v1 payment is not a v2 one");
    assert_eq!(e.reason(), x402_core::Reason::InvalidX402Version);

    match verify::verify_v1(&payment, &[fixed_v1_requirement()], NOW) {
        Ok(verdict) => {
            check_verdict(&verdict, &payment.payload, 1);
            let p = verdict.payment();
            assert!(p.authorization.value >= U256::from(AMOUNT));
            assert_eq!(payment.network, "base-sepolia");
            assert_eq!(p.requirement.chain_id, 84532);
        }
        Err(e) => check_error(&e),
    }
});
