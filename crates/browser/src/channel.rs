//! `batch-settlement` channels (feature `channel`): `wrapFetch(fetch, wallet, { channels: {
//! allowed: true, … } })` pays a channel offer with one wallet signature per deposit and a
//! voucher per request, signed here by a voucher key the wallet never sees (x402
//! `specs/schemes/batch-settlement/scheme_batch_settlement_evm.md`, "Client behavior"). Built
//! alone as `pkg/channel` (the module `js/lazy.js`, `js/node.js` and the drop-in load only when
//! a channel is offered) and into `pkg/local`. The I/O — sending, the wallet, the storage, the
//! retries — is `js/channel.js`; the decisions are [`x402_core::client::channel`] and run here.

use crate::budget::BudgetStore;
use crate::error::{from_core, reason};
use crate::options::invalid_option;
use crate::settings::read_options;
use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use x402_core::{
    client::channel::text::{
        b256_text, choose_text, deposit_payload_text, read_response_text, receive_typed_data_text,
        refund_payload_text, refusal_text, voucher_payload_text, ChannelChallenge, TextOffer,
    },
    client::channel::{
        adopt, after_refund, after_success, plan, ChannelOptions, ClientChannel, Plan, Refusal,
    },
    client::{Policy, CAP_DECIMALS},
    encoding::decimal_u256,
    encoding::hex::parse_hex_bytes,
    evm::address::{checksummed, parse_address},
    evm::asset::find_asset,
    evm::money::format_amount,
    evm::signer::LocalSigner,
    scheme::batch::client::{receive_authorization, voucher},
    scheme::batch::digest::voucher_digest,
    scheme::batch::types::ReceiveWithAuthorization,
    Bytes, Reason, B256,
};

#[wasm_bindgen(module = "/js/channel.js")]
extern "C" {
    /// `options.channels` (without the key and the storage) as JSON text.
    #[wasm_bindgen(js_name = channelsText, catch)]
    fn channels_text(options: &JsValue) -> Result<String, JsValue>;

    /// The paying `fetch` with channels; `exact(fetch, wallet, options)` makes the paying fetch
    /// of every other offer.
    #[wasm_bindgen(js_name = channelFetch, catch)]
    fn channel_fetch(
        fetch: &JsValue,
        wallet: &JsValue,
        options: &JsValue,
        exact: &Function,
        channels: Channels,
    ) -> Result<Function, JsValue>;
}

/// `wrapFetch` with channels: the paying fetch of `options` (`maxAmount`, `budget`, …, and
/// `channels`), which pays `batch-settlement` offers through a channel and hands every other
/// 402 to the paying fetch `exact(fetch, wallet, options)` makes (the `wrapFetch` of `pkg/web`
/// or `pkg/local`). Without `options.channels.allowed` it is `exact`'s. Errors
/// (`invalid_config`) are thrown at once.
#[wasm_bindgen(js_name = wrapChannelFetch)]
pub fn wrap_channel_fetch(
    fetch: JsValue,
    wallet: JsValue,
    options: JsValue,
    exact: Function,
) -> Result<JsValue, JsValue> {
    let (policy, budget) = read_options(&options)?;
    match channels_of(&options, policy, budget)? {
        Some(channels) => Ok(channel_fetch(&fetch, &wallet, &options, &exact, channels)?.into()),
        None => exact.call3(&JsValue::UNDEFINED, &fetch, &wallet, &options),
    }
}

/// `units` (atomic, a decimal string) in a token of `decimals`, as the challenge writes prices
/// (`0.5` for 500000 of a 6-decimal token). Error: `invalid_payload`.
#[wasm_bindgen(js_name = formatAmount)]
pub fn format_amount_js(units: &str, decimals: u8) -> Result<String, JsValue> {
    let units = decimal_u256::parse(units).map_err(|e| reason(Reason::InvalidPayload, e))?;
    Ok(format_amount(units, decimals))
}

/// The channel policy of `options.channels` over `policy` (the exact path's), `None` unless
/// `allowed`. Errors: `invalid_config`.
fn channels_of(
    options: &JsValue,
    policy: Policy,
    budget: Option<BudgetStore>,
) -> Result<Option<Channels>, JsValue> {
    let text = channels_text(options)
        .map_err(|_| invalid_option("channels", "not representable as JSON"))?;
    let parsed =
        ChannelOptions::from_json_text(&text).map_err(|why| invalid_option("channels", &why))?;
    parsed.check().map_err(from_core)?;
    Ok(parsed.allowed.then_some(Channels {
        policy,
        options: parsed,
        budget,
    }))
}

/// The channel policy of one paying fetch, and its budget (the same storage entry as the exact
/// path's: both re-read it before each check).
#[wasm_bindgen]
pub struct Channels {
    policy: Policy,
    options: ChannelOptions,
    budget: Option<BudgetStore>,
}

#[wasm_bindgen]
impl Channels {
    /// Reads a `PAYMENT-REQUIRED` value: a [`ChannelQuote`] when a channel pays it, `undefined`
    /// when the exact path does (`any`: whenever an acceptable channel offer exists, as a
    /// refund needs). Refusals (`over_max`, …) are thrown.
    pub fn choose(
        &self,
        header: &str,
        now: f64,
        any: bool,
    ) -> Result<Option<ChannelQuote>, JsValue> {
        let challenge = match ChannelChallenge::from_header(header) {
            Ok(c) => c,
            // Not a v2 challenge: the exact path reports it.
            Err(_) => return Ok(None),
        };
        let mut options = self.options.clone();
        options.preferred |= any;
        match choose_text(&self.policy, &options, &challenge).map_err(from_core)? {
            None => Ok(None),
            Some(offer) => Ok(Some(ChannelQuote {
                challenge,
                offer,
                options: self.options.clone(),
                now: now as u64,
                signer: None,
                state: None,
                known: false,
                probed: false,
                corrected: false,
                plan: None,
                deposit: None,
            })),
        }
    }

    /// A new voucher key from 32 random bytes (`0x` + 64 hex digits).
    #[wasm_bindgen(js_name = newVoucherKey)]
    pub fn new_voucher_key(&self, random: &[u8]) -> Result<String, JsValue> {
        let bytes = <[u8; 32]>::try_from(random)
            .map_err(|_| reason(Reason::InvalidConfig, "a voucher key needs 32 random bytes"))?;
        LocalSigner::from_bytes(&B256::from(bytes)).map_err(from_core)?;
        Ok(b256_text(&B256::from(bytes)))
    }

    /// The storage key of the budget, `undefined` without a budget.
    #[wasm_bindgen(getter, js_name = budgetKey)]
    pub fn budget_key(&self) -> Option<String> {
        self.budget.as_ref().map(|b| b.key.clone())
    }

    /// Checks a deposit (`units`: millionths of a token, a decimal string) against the budget
    /// of `origin` at `now` (as `stored` has it), and records it when `record` (after the
    /// wallet signed); returns the budget's text to store (`undefined` without a budget).
    /// Error: `over_budget`.
    #[wasm_bindgen(js_name = budgetDeposit)]
    pub fn budget_deposit(
        &mut self,
        units: &str,
        origin: &str,
        now: f64,
        stored: Option<String>,
        record: bool,
    ) -> Result<JsValue, JsValue> {
        let Some(b) = &mut self.budget else {
            return Ok(JsValue::UNDEFINED);
        };
        let units = decimal_u256::parse(units).map_err(|e| reason(Reason::InvalidPayload, e))?;
        let now = now as u64;
        b.refresh(stored.as_deref());
        if !record {
            b.budget()
                .check(origin, units, now, CAP_DECIMALS)
                .map_err(from_core)?;
            return Ok(JsValue::UNDEFINED);
        }
        Ok(b.record(origin, units, now, CAP_DECIMALS)
            .map_err(from_core)?
            .into())
    }
}

/// One request paid on a channel, from the 402 to the answer.
#[wasm_bindgen]
pub struct ChannelQuote {
    challenge: ChannelChallenge,
    offer: TextOffer,
    options: ChannelOptions,
    now: u64,
    signer: Option<LocalSigner>,
    /// The channel (fresh until stored state or an answer confirms it).
    state: Option<ClientChannel>,
    /// Whether `state` is confirmed (stored, or from an answer).
    known: bool,
    /// Whether a voucher was sent on a channel the client had no state for.
    probed: bool,
    /// Whether a corrective 402 was adopted (one retry).
    corrected: bool,
    plan: Option<Plan>,
    /// The deposit's authorization, its salt and the wallet's signature.
    deposit: Option<(ReceiveWithAuthorization, B256, Option<Bytes>)>,
}

impl ChannelQuote {
    fn state(&self) -> Result<&ClientChannel, JsValue> {
        self.state
            .as_ref()
            .ok_or_else(|| reason(Reason::InvalidConfig, "the channel is not open"))
    }
}

#[wasm_bindgen]
impl ChannelQuote {
    /// Opens the channel of `payer` (the wallet's address) with the voucher key (`0x` + 64
    /// hex digits); returns its storage key, `x402:channel:<channelId>`.
    pub fn open(&mut self, payer: &str, voucher_key: &str) -> Result<String, JsValue> {
        let payer = parse_address(payer).map_err(|e| reason(Reason::NoWallet, &e))?;
        let signer = LocalSigner::from_hex(voucher_key).map_err(|_| {
            invalid_option("channels.voucherKey", "a private key, 0x and 64 hex digits")
        })?;
        let state = ClientChannel::new(&self.offer, payer, signer.address());
        let mut key = String::from("x402:channel:");
        key.push_str(&b256_text(&state.channel_id));
        self.state = Some(state);
        self.signer = Some(signer);
        // Nothing of a channel opened before (a provisional one) carries over.
        self.known = false;
        self.probed = false;
        self.plan = None;
        self.deposit = None;
        Ok(key)
    }

    /// Takes the stored state (its JSON text); anything that is not this channel's state is
    /// ignored.
    pub fn load(&mut self, stored: Option<String>) -> Result<(), JsValue> {
        let fresh = self.state()?;
        if let Some(s) = stored.as_deref().and_then(ClientChannel::from_json_text) {
            if s.channel_id == fresh.channel_id && s.voucher_key == fresh.voucher_key {
                self.state = Some(s);
                self.known = true;
            }
        }
        Ok(())
    }

    /// Whether the channel's state is known (stored, or confirmed by an answer).
    #[wasm_bindgen(getter)]
    pub fn known(&self) -> bool {
        self.known
    }

    /// Marks the opened channel as new (its voucher key was just made, so no channel can exist
    /// with it): the first step is the deposit, with no probing voucher.
    pub fn fresh(&mut self) {
        self.known = self.state.is_some();
    }

    /// The next step: `"deposit"` (the wallet signs [`ChannelQuote::deposit_typed_data`]) or
    /// `"voucher"`. Without a stored state the first step is a voucher for one price (the
    /// server answers a channel it knows with its state, a corrective 402); refusals
    /// (`over_max` above `maxDeposit`, a blocked channel) come before anything is signed.
    #[wasm_bindgen(js_name = next)]
    pub fn next_step(&mut self) -> Result<String, JsValue> {
        let state = self.state()?;
        let step = if !self.known && !self.probed {
            self.probed = true;
            // Refused like any voucher on a blocked channel, and bounded like a deposit.
            plan(&self.offer, None, &self.options).map_err(from_core)?;
            Plan::Voucher {
                max: self.offer.requirement.amount,
            }
        } else {
            let known = self.known.then_some(state);
            plan(&self.offer, known, &self.options).map_err(from_core)?
        };
        self.plan = Some(step);
        self.deposit = None;
        Ok(match step {
            Plan::Deposit { .. } => "deposit",
            Plan::Voucher { .. } => "voucher",
        }
        .into())
    }

    /// The `eth_signTypedData_v4` JSON of the deposit's `ReceiveWithAuthorization` (to the
    /// ERC-3009 deposit collector, valid for `maxTimeoutSeconds`), `salt`: 32 random bytes.
    #[wasm_bindgen(js_name = depositTypedData)]
    pub fn deposit_typed_data(&mut self, salt: &[u8]) -> Result<String, JsValue> {
        let salt = <[u8; 32]>::try_from(salt)
            .map(B256::from)
            .map_err(|_| reason(Reason::InvalidPayload, "the salt must be 32 bytes"))?;
        let Some(Plan::Deposit { amount, .. }) = self.plan else {
            return Err(reason(Reason::InvalidPayload, "no deposit is planned"));
        };
        let req = &self.offer.requirement;
        let auth = receive_authorization(req, &self.state()?.config, amount, self.now, salt);
        let typed = receive_typed_data_text(
            &req.extra.name,
            &req.extra.version,
            req.chain_id,
            req.asset,
            &auth,
        );
        self.deposit = Some((auth, salt, None));
        Ok(typed)
    }

    /// Takes the wallet's signature of the deposit (`0x`-prefixed hex).
    #[wasm_bindgen(js_name = depositSigned)]
    pub fn deposit_signed(&mut self, signature: &str) -> Result<(), JsValue> {
        let sig = parse_hex_bytes(signature).ok_or_else(|| {
            reason(
                Reason::InvalidPayload,
                "the wallet's signature is not 0x-prefixed hex",
            )
        })?;
        match self.deposit.as_mut() {
            Some(d) => d.2 = Some(Bytes::from(sig)),
            None => return Err(reason(Reason::InvalidPayload, "no deposit was signed")),
        }
        Ok(())
    }

    /// The `PAYMENT-SIGNATURE` value of the planned step: the voucher (signed here by the
    /// voucher key), with the signed deposit when one is planned.
    pub fn header(&self) -> Result<String, JsValue> {
        let state = self.state()?;
        let (Some(step), Some(signer)) = (self.plan, self.signer.as_ref()) else {
            return Err(reason(Reason::InvalidPayload, "nothing is planned"));
        };
        let max = u128::try_from(step.max())
            .map_err(|_| reason(Reason::InvalidPaymentRequirements, "ceiling above uint128"))?;
        let req = &self.offer.requirement;
        let sig = signer
            .sign_hash(&voucher_digest(state.channel_id, max, req.chain_id))
            .map_err(from_core)?;
        let v = voucher(
            req,
            &state.config,
            max,
            Bytes::from(sig.to_bytes().to_vec()),
        );
        let payload = match (step, &self.deposit) {
            (Plan::Voucher { .. }, _) => voucher_payload_text(&state.config, &v),
            (Plan::Deposit { .. }, Some((auth, salt, Some(signature)))) => {
                deposit_payload_text(&state.config, &v, auth, *salt, signature)
            }
            (Plan::Deposit { .. }, _) => {
                return Err(reason(Reason::InvalidPayload, "the deposit is not signed"))
            }
        };
        Ok(self.challenge.payment_header(&self.offer, &payload))
    }

    /// Reads the answer to the paid request (`status`, its `PAYMENT-RESPONSE` and
    /// `PAYMENT-REQUIRED` values) and moves the state: `"paid"` (checked and counted),
    /// `"retry"` (a corrective 402 adopted, or no channel behind a first voucher: deposit),
    /// `"busy"` (`channel_busy`: retry shortly), `"done"` (any other answer, passed on; the
    /// state unchanged). A success that breaks the agreed count blocks the channel and throws
    /// (`invalid_batch_settlement_evm_cumulative_amount_mismatch`): nothing more is signed.
    pub fn answer(
        &mut self,
        status: u16,
        payment_response: Option<String>,
        payment_required: Option<String>,
    ) -> Result<String, JsValue> {
        let step = self
            .plan
            .take()
            .ok_or_else(|| reason(Reason::InvalidPayload, "nothing was sent"))?;
        let state = self.state()?.clone();
        if status != 402 {
            let Some(value) = payment_response.filter(|_| status < 400) else {
                return Ok("done".into());
            };
            let probe = !self.known;
            let checked = read_response_text(&value).and_then(|r| {
                let mut next = after_success(&self.offer, &state, &step, &r)?;
                // A first voucher the server took: the channel's balance is the server's.
                if let (true, Some(extra)) = (probe, r.extra.as_ref()) {
                    next.balance = extra.channel_state.balance;
                }
                Ok(next)
            });
            return match checked {
                Ok(next) => {
                    self.state = Some(next);
                    self.known = true;
                    Ok("paid".into())
                }
                Err(e) => {
                    let mut blocked = state;
                    blocked.block(&e);
                    self.state = Some(blocked);
                    self.known = true;
                    Err(from_core(e))
                }
            };
        }
        let required = payment_required
            .as_deref()
            .and_then(|v| ChannelChallenge::from_header(v).ok());
        let error_reason = payment_response
            .as_deref()
            .and_then(|v| read_response_text(v).ok())
            .and_then(|r| r.error_reason);
        Ok(
            match refusal_text(state.channel_id, required.as_ref(), error_reason.as_deref()) {
                Refusal::Busy => "busy",
                Refusal::Corrective(server, voucher) if !self.corrected => {
                    self.corrected = true;
                    match adopt(&state, &server, voucher.as_ref()) {
                        Ok(next) => {
                            self.state = Some(next);
                            self.known = true;
                            "retry"
                        }
                        Err(e) => {
                            let mut blocked = state;
                            blocked.block(&e);
                            self.state = Some(blocked);
                            self.known = true;
                            return Err(from_core(e));
                        }
                    }
                }
                // A first voucher on a channel the server does not know: deposit.
                Refusal::Other(_) if !self.known && matches!(step, Plan::Voucher { .. }) => {
                    self.known = true;
                    "retry"
                }
                _ => "done",
            }
            .into(),
        )
    }

    /// The `PAYMENT-SIGNATURE` value of a cooperative refund of the stored channel (after
    /// [`ChannelQuote::load`]): a voucher for exactly the charged total, so it charges nothing,
    /// and `amount` (atomic units, a decimal string; absent: everything not charged). Errors:
    /// `invalid_batch_settlement_evm_channel_not_found` (no stored channel),
    /// `invalid_batch_settlement_evm_refund_no_balance` (nothing left), a blocked channel's code.
    #[wasm_bindgen(js_name = refundHeader)]
    pub fn refund_header(&mut self, amount: Option<String>) -> Result<String, JsValue> {
        let state = self.state()?;
        if !self.known {
            return Err(reason(
                Reason::InvalidBatchSettlementEvmChannelNotFound,
                "no channel with this site is stored here",
            ));
        }
        // A blocked channel signs nothing, not even a refund voucher.
        plan(&self.offer, Some(state), &self.options)
            .err()
            .filter(|e| e.code() != Reason::OverMax.as_str())
            .map_or(Ok(()), |e| Err(from_core(e)))?;
        let left = state.balance.saturating_sub(state.charged);
        let amount = amount
            .map(|a| {
                decimal_u256::parse(&a)
                    .ok()
                    .filter(|a| !a.is_zero() && *a <= left)
                    .ok_or_else(|| {
                        reason(
                            Reason::InvalidBatchSettlementEvmRefundAmountInvalid,
                            "the refund amount must be positive and at most the credit left",
                        )
                    })
            })
            .transpose()?;
        if left.is_zero() {
            return Err(reason(
                Reason::InvalidBatchSettlementEvmRefundNoBalance,
                "no credit is left on this channel",
            ));
        }
        let (Ok(charged), Some(signer)) = (u128::try_from(state.charged), self.signer.as_ref())
        else {
            return Err(reason(Reason::InvalidPayload, "the channel is not open"));
        };
        let req = &self.offer.requirement;
        let sig = signer
            .sign_hash(&voucher_digest(state.channel_id, charged, req.chain_id))
            .map_err(from_core)?;
        let v = voucher(
            req,
            &state.config,
            charged,
            Bytes::from(sig.to_bytes().to_vec()),
        );
        let payload = refund_payload_text(&state.config, &v, amount);
        Ok(self.challenge.payment_header(&self.offer, &payload))
    }

    /// Reads the answer to a refund (`status`, its `PAYMENT-RESPONSE` value): on a success
    /// checked for this channel the state takes the server's balance and the refunded amount
    /// (atomic units, a decimal string) is returned; `undefined` for a refusal (the state
    /// unchanged). An answer that changes the charged total or grows the balance throws.
    #[wasm_bindgen(js_name = refundAnswer)]
    pub fn refund_answer(
        &mut self,
        status: u16,
        payment_response: Option<String>,
    ) -> Result<Option<String>, JsValue> {
        let Some(value) = payment_response.filter(|_| (200..300).contains(&status)) else {
            return Ok(None);
        };
        let response = read_response_text(&value).map_err(from_core)?;
        let (next, refunded) = after_refund(self.state()?, &response).map_err(from_core)?;
        self.state = Some(next);
        Ok(Some(decimal_u256::format(&refunded)))
    }

    /// The channel state to store (JSON text), `undefined` before the channel is confirmed.
    #[wasm_bindgen(js_name = stateText)]
    pub fn state_text(&self) -> Option<String> {
        self.state
            .as_ref()
            .filter(|_| self.known)
            .map(ClientChannel::to_json_text)
    }

    /// The planned deposit in the budget's unit (millionths of a token, rounded up), as a
    /// decimal string.
    #[wasm_bindgen(js_name = depositUnits)]
    pub fn deposit_units(&self) -> String {
        let amount = self.plan.map(|p| p.deposit()).unwrap_or_default();
        decimal_u256::format(&x402_core::client::rescale(
            amount,
            self.offer.decimals,
            CAP_DECIMALS,
            true,
        ))
    }

    /// What `confirm` receives before a deposit: the offer in plain values, with `deposit`
    /// (atomic) and `depositPrice` (in the asset's units) and the channel's `balance` and
    /// `charged`.
    pub fn offer(&self) -> Result<JsValue, JsValue> {
        let r = &self.offer.requirement;
        let d = self.offer.decimals;
        let o = Object::new();
        let set = |k: &str, v: JsValue| Reflect::set(&o, &k.into(), &v);
        set("x402Version", 2.into())?;
        set("scheme", "batch-settlement".into())?;
        let step = match self.plan {
            Some(Plan::Deposit { .. }) => "deposit",
            Some(Plan::Voucher { .. }) => "voucher",
            None => "",
        };
        set("step", step.into())?;
        let symbol = find_asset(&r.network, &r.asset).map_or("", |a| a.symbol);
        set("symbol", symbol.into())?;
        set(
            "description",
            self.challenge.description().unwrap_or("").into(),
        )?;
        set("network", r.network.as_str().into())?;
        set("chainId", (r.chain_id as f64).into())?;
        set("asset", checksummed(&r.asset).into())?;
        set("decimals", d.into())?;
        set("amount", decimal_u256::format(&r.amount).into())?;
        set("price", format_amount(r.amount, d).into())?;
        set("payTo", checksummed(&r.pay_to).into())?;
        set("resource", self.challenge.url().into())?;
        set("maxTimeoutSeconds", (r.max_timeout_seconds as f64).into())?;
        let deposit = self.plan.map(|p| p.deposit()).unwrap_or_default();
        set("deposit", decimal_u256::format(&deposit).into())?;
        set("depositPrice", format_amount(deposit, d).into())?;
        if let Some(s) = self.state.as_ref() {
            set("channelId", b256_text(&s.channel_id).into())?;
            set("balance", decimal_u256::format(&s.balance).into())?;
            set("charged", decimal_u256::format(&s.charged).into())?;
            let left = s.balance.saturating_sub(s.charged);
            set("credit", decimal_u256::format(&left).into())?;
            set("creditPrice", format_amount(left, d).into())?;
        }
        Ok(o.into())
    }
}
