//! Signed offers and receipts (the `offer-receipt` extension, x402-foundation/x402
//! `specs/extensions/extension-offer-and-receipt.md`): with the secret [`KEY_SECRET`] set, every
//! 402 carries `extensions["offer-receipt"]` (one EIP-712 offer per `accepts[]` entry: this
//! site offers this resource at this price, until `validUntil`), and every successful
//! settlement's `PAYMENT-RESPONSE` carries a signed receipt (this payer paid for this resource
//! at `issuedAt`). A reader holds the seller's own statement, not only a transaction hash.
//!
//! The signer is a key of its own (the spec recommends one apart from `payTo`), published in the
//! site's did:web document at [`DID_PATH`] (spec §4.5.1, "Signer Authorization"), so that a
//! verifier can tie the recovered signer to the resource's domain.
//!
//! Offers are signed once per resource per half of `receipts.offerValiditySeconds` (an epoch),
//! valid until the end of the next half: a 402 always carries an offer valid for at least half
//! the configured time, and a busy page costs two signatures per epoch, not one per request (the
//! fast 402 keeps its answers per epoch too).

use crate::{App, Ctx};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use x402_core::evm::signer::LocalSigner;
use x402_core::gate::config::{ReceiptsConfig, Route};
use x402_core::scheme::batch::response::BatchSettleResponse;
use x402_core::wire::offer_receipt;
use x402_core::wire::SettleResponse;
use x402_core::{Address, Error, Reason};

/// The secret holding the receipt key (`0x` + 64 hex digits).
pub(crate) const KEY_SECRET: &str = "X402_RECEIPT_KEY";
/// Where the did:web document naming the receipt key is served.
pub(crate) const DID_PATH: &str = "/.well-known/did.json";
/// How many resources' offers are kept.
const KEPT: usize = 512;

/// The receipt key, its settings and the offers signed so far.
pub(crate) struct Receipts {
    signer: LocalSigner,
    config: ReceiptsConfig,
    /// Offers by route (its address in the configuration) and resource: `(epoch, value)`.
    offers: RefCell<HashMap<(usize, String), (u64, Value)>>,
}

impl Receipts {
    /// From the secret (absent: off) and the `receipts` table. A table without the secret is a
    /// mistake worth failing loudly on: the operator expects receipts.
    pub(crate) fn new(
        secret: Option<&str>,
        table: Option<ReceiptsConfig>,
    ) -> Result<Option<Self>, Error> {
        let Some(secret) = secret else {
            return match table {
                Some(_) => Err(Error::new(
                    Reason::InvalidConfig,
                    format!("receipts: the secret {KEY_SECRET} is not set (the key that signs offers and receipts)"),
                )),
                None => Ok(None),
            };
        };
        let signer = LocalSigner::from_hex(secret.trim()).map_err(|e| e.context(KEY_SECRET))?;
        Ok(Some(Self {
            signer,
            config: table.unwrap_or_default(),
            offers: RefCell::new(HashMap::new()),
        }))
    }

    /// Half the offers' validity: the time between two signings of one resource's offers.
    fn half(&self) -> u64 {
        (self.config.offer_validity_seconds / 2).max(1)
    }

    /// The epoch of `now` (unix seconds): the offers signed for it are the same for all of it.
    pub(crate) fn epoch(&self, now: u64) -> u64 {
        now / self.half()
    }

    /// The 402's `extensions["offer-receipt"]` for `route` at `resource_url`: the offers of
    /// this epoch, signed on first use.
    fn offers(&self, route: &Route, resource_url: &str, now: u64) -> Option<Value> {
        let epoch = self.epoch(now);
        let key = (route as *const Route as usize, resource_url.to_string());
        if let Some((e, v)) = self.offers.borrow().get(&key) {
            if *e == epoch {
                return Some(v.clone());
            }
        }
        let accepts = route.payment_required(resource_url, None).accepts;
        // Valid from the epoch's start for the whole validity: at least half of it remains.
        let value = offer_receipt::signed_offers_extension(
            &self.signer,
            resource_url,
            &accepts,
            epoch * self.half(),
            Some(self.config.offer_validity_seconds),
        )
        .map_err(|e| worker::console_error!("x402-worker: offers not signed: {e}"))
        .ok()?;
        let mut kept = self.offers.borrow_mut();
        if kept.len() >= KEPT {
            kept.clear();
        }
        kept.insert(key, (epoch, value.clone()));
        Some(value)
    }

    /// The signed receipt of a successful settlement, issued at `issued_at` (unix seconds), as
    /// the value of its `extensions["offer-receipt"]`.
    fn receipt(
        &self,
        resource_url: &str,
        settled: &SettleResponse,
        issued_at: u64,
    ) -> Option<Value> {
        offer_receipt::signed_receipt_extension(
            &self.signer,
            resource_url,
            settled,
            issued_at,
            self.config.include_transaction,
        )
        .map_err(|e| worker::console_error!("x402-worker: receipt not signed: {e}"))
        .ok()
    }
}

/// The offers for this request's 402, when receipts are on.
pub(crate) fn offers(app: &App, ctx: &Ctx, route: &Route) -> Option<Value> {
    app.receipts
        .as_ref()
        .and_then(|r| r.offers(route, &ctx.resource_url, ctx.now))
}

/// The epoch the fast 402 keeps its answers by (0 when receipts are off).
pub(crate) fn epoch(app: &App, now: u64) -> u64 {
    app.receipts.as_ref().map_or(0, |r| r.epoch(now))
}

/// Adds the signed receipt to a successful settlement's response, when receipts are on.
pub(crate) fn add_receipt(
    app: &App,
    resource_url: &str,
    settled: &mut SettleResponse,
    issued_at: u64,
) {
    if let Some(value) = signed(app, resource_url, settled, issued_at) {
        settled
            .extensions
            .get_or_insert_with(Default::default)
            .insert(offer_receipt::KEY.into(), value);
    }
}

/// Adds the signed receipt to a successful `batch-settlement` payment's response (a voucher, or
/// a deposit with its first voucher), when receipts are on: the same receipt as an exact
/// payment's, naming the deposit's transaction when there is one and receipts include it.
pub(crate) fn add_channel_receipt(
    app: &App,
    resource_url: &str,
    r: &mut BatchSettleResponse,
    payer: Address,
    issued_at: u64,
) {
    let settled = SettleResponse::success(
        r.transaction.clone(),
        r.network.clone(),
        payer.to_checksum(None),
    );
    if let Some(value) = signed(app, resource_url, &settled, issued_at) {
        r.extensions
            .get_or_insert_with(Default::default)
            .insert(offer_receipt::KEY.into(), value);
    }
}

fn signed(app: &App, resource_url: &str, settled: &SettleResponse, at: u64) -> Option<Value> {
    app.receipts
        .as_ref()
        .and_then(|r| r.receipt(resource_url, settled, at))
}

/// The did:web document of this site (`did:web:<host>`, the host of `publicOrigin` when set,
/// else of the request; a port written `%3A`, as did:web spells it), naming the receipt key as
/// its assertion method: `EcdsaSecp256k1RecoveryMethod2020` with `blockchainAccountId`
/// `eip155:1:<address>` (the chain id of the offer and receipt EIP-712 domains). `None` when
/// receipts are off.
pub(crate) fn did_document(app: &App, ctx: &Ctx) -> Option<Value> {
    let r = app.receipts.as_ref()?;
    let origin = app.config.public_origin.as_deref().unwrap_or(&ctx.origin);
    let host = x402_core::wire::siwx::http_scheme(origin).map_or(origin, |(_, h)| h);
    let did = format!("did:web:{}", host.replace(':', "%3A"));
    let method = format!("{did}#x402-receipts");
    Some(json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/secp256k1recovery-2020/v2"],
        "id": did,
        "verificationMethod": [{
            "id": method,
            "type": "EcdsaSecp256k1RecoveryMethod2020",
            "controller": did,
            "blockchainAccountId": format!("eip155:1:{}", r.signer.address().to_checksum(None)),
        }],
        "assertionMethod": [method],
    }))
}
