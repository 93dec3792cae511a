//! The `offer-receipt` extension (server → client: a 402's signed offers, a settlement
//! response's signed receipt): the same bytes as a signed offer, a signed receipt, and the
//! extension values that carry them. A refusal carries the kind's reason; what decodes
//! re-serializes canonically and decodes equal; a recovered signer re-recovers from the
//! signature and the EIP-712 digest; any payload that decodes signs with a fixed key and
//! recovers to it; offers are matched against a fixed `accepts[]` entry; the client's serde-free
//! receipt reader agrees with the serde path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::fmt::Debug;
use std::sync::OnceLock;
use x402_core::client::receipt::check_receipt;
use x402_core::encoding::hex;
use x402_core::evm::signature::Signature;
use x402_core::evm::signer::LocalSigner;
use x402_core::wire::offer_receipt::{
    self as or, Artifact, Format, OfferPayload, Payload, ReceiptPayload,
};
use x402_core::wire::v2::PaymentRequirements;
use x402_core::{Address, Reason};
use x402_core_fuzz::{check_error, check_json, PAY_TO, USDC_BASE_SEPOLIA};

fn signer() -> &'static LocalSigner {
    static SIGNER: OnceLock<LocalSigner> = OnceLock::new();
    SIGNER.get_or_init(|| {
        LocalSigner::from_hex("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
            .expect("a valid key")
    })
}

/// The `accepts[]` entry offers are matched against (the specification's example).
fn requirement() -> &'static PaymentRequirements {
    static REQ: OnceLock<PaymentRequirements> = OnceLock::new();
    REQ.get_or_init(|| {
        serde_json::from_value(serde_json::json!({
            "scheme": "exact",
            "network": "eip155:84532",
            "amount": "10000",
            "asset": USDC_BASE_SEPOLIA,
            "payTo": PAY_TO,
            "maxTimeoutSeconds": 60
        }))
        .expect("a requirement")
    })
}

fn artifact<P: Payload + Debug>(
    data: &[u8],
    recover: fn(&Artifact<P>) -> x402_core::Result<Address>,
    sign: fn(&P) -> Artifact<P>,
) {
    let a = match Artifact::<P>::from_json(data) {
        Ok(a) => a,
        Err(e) => {
            check_error(&e);
            assert_eq!(e.reason(), P::REASON);
            return;
        }
    };
    check_json(&a, Artifact::<P>::from_json);
    assert_eq!(Artifact::<P>::from_value(&a.to_value()).as_ref(), Ok(&a));
    assert_eq!(a.format == Format::Eip712, a.payload.is_some());
    let payload = match a.payload_unverified() {
        Ok(p) => {
            if let Some(q) = &a.payload {
                assert_eq!(&p, q);
            }
            Some(p)
        }
        Err(e) => {
            check_error(&e);
            assert_eq!(e.reason(), P::REASON);
            assert_eq!(a.format, Format::Jws);
            None
        }
    };
    match recover(&a) {
        Ok(who) => {
            assert_eq!(a.format, Format::Eip712);
            let p = a
                .payload
                .as_ref()
                .expect("an eip712 artifact has its payload");
            assert_eq!(p.version(), or::VERSION);
            let bytes = hex::parse_hex_bytes(&a.signature).expect("hex");
            assert_eq!(bytes.len(), 65);
            let sig = Signature::from_bytes(&bytes).expect("a recovered signature parses");
            assert_eq!(sig.recover(&p.signing_hash()).ok(), Some(who));
            assert_eq!(recover(&a).ok(), Some(who));
        }
        Err(e) => {
            check_error(&e);
            assert!(
                e.reason() == P::REASON
                    || e.reason() == Reason::UnsupportedOfferReceiptFormat
                    || e.reason() == Reason::InvalidOfferReceiptSignature,
                "{e}"
            );
        }
    }
    // Any payload that decodes (JWS ones too) signs and recovers to the signer, if it is
    // version 1.
    if let Some(p) = payload {
        let signed = sign(&p);
        check_json(&signed, Artifact::<P>::from_json);
        match recover(&signed) {
            Ok(who) => assert_eq!(who, signer().address()),
            Err(e) => {
                assert_ne!(p.version(), or::VERSION, "{e}");
                assert_eq!(e.reason(), P::REASON);
            }
        }
    }
}

/// The paying client's serde-free receipt reader (`client::receipt::check_receipt`, what the
/// browser's channel module links) against the serde path: a refusal carries a known reason, and
/// where the serde path recovers a signer, the client reads the same payload and recovers the
/// same signer (it may read more: it does not refuse unknown fields).
fn client_receipt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let light = check_receipt(text);
    if let Err(e) = &light {
        check_error(e);
    }
    if let Ok(a) = Artifact::<ReceiptPayload>::from_json(data) {
        if let Ok(who) = or::recover_receipt_signer(&a) {
            let c = light.expect("the client reads what the serde path verifies");
            assert_eq!(c.signer, who);
            assert_eq!(Some(&c.payload), a.payload.as_ref());
        }
    }
}

fn sign_offer(p: &OfferPayload) -> Artifact<OfferPayload> {
    or::sign_offer(signer(), p.clone(), Some(0)).expect("a decoded offer signs")
}

fn sign_receipt(p: &ReceiptPayload) -> Artifact<ReceiptPayload> {
    or::sign_receipt(signer(), p.clone()).expect("a decoded receipt signs")
}

fuzz_target!(|data: &[u8]| {
    artifact::<OfferPayload>(data, or::recover_offer_signer, sign_offer);
    artifact::<ReceiptPayload>(data, or::recover_receipt_signer, sign_receipt);
    client_receipt(data);

    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match or::decode_offers(&value) {
        Ok(offers) => {
            let again = or::decode_offers(&or::offers_extension(&offers)).expect("re-decodes");
            assert_eq!(again, offers);
            if let Some(found) = or::match_offer(&offers, requirement()) {
                let p = found
                    .payload_unverified()
                    .expect("a matched offer has a payload");
                assert!(or::offer_matches(&p, requirement()));
            }
        }
        Err(e) => {
            check_error(&e);
            assert_eq!(e.reason(), Reason::InvalidSignedOffer);
        }
    }
    match or::decode_receipt(&value) {
        Ok(receipt) => {
            let again = or::decode_receipt(&or::receipt_extension(&receipt)).expect("re-decodes");
            assert_eq!(again, receipt);
        }
        Err(e) => {
            check_error(&e);
            assert_eq!(e.reason(), Reason::InvalidSignedReceipt);
        }
    }
    // The same value as a message's `extensions`.
    if let Value::Object(extensions) = &value {
        if let Err(e) = or::offers_in(Some(extensions)) {
            assert_eq!(e.reason(), Reason::InvalidSignedOffer);
        }
        if let Err(e) = or::receipt_in(Some(extensions)) {
            assert_eq!(e.reason(), Reason::InvalidSignedReceipt);
        }
    }
});
