//! The paying fetch and the EIP-1193 wallet flow in headless Chromium (wasm-bindgen-test).
//!
//! The server and the wallet are test doubles written in the page (`inline_js`): a fetch that
//! answers 402 with a challenge built by x402-core, and an EIP-1193 provider that signs with a
//! local key through x402-core and can be told to reject (4001), to be on another chain, or
//! not to know a chain (4902) — faults a real wallet cannot be made to produce on demand. What
//! the client sent is decoded and verified with x402-core's verifier.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use js_sys::{Function, Object, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use x402_browser::wrap_fetch;
use x402_core::{
    evm::eip712::{parse_transfer_typed_data, signing_hash},
    evm::network::Network,
    evm::signer::LocalSigner,
    scheme::exact::verify,
    scheme::exact::{build_authorization, ExactEvmRequirement},
    wire::header,
    wire::{v1, v2, JsonMap, SettleResponse},
    Address, U256,
};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
export function fakeWallet(opts, sign) {
  const calls = [];
  let chain = opts.chainId;
  const known = opts.known ?? [opts.chainId];
  return { calls, request: async ({ method, params }) => {
    calls.push(method);
    if (opts.reject === method) throw Object.assign(new Error('User rejected the request.'), { code: 4001 });
    switch (method) {
      case 'eth_requestAccounts': return [opts.account];
      case 'eth_chainId': return '0x' + chain.toString(16);
      case 'wallet_switchEthereumChain': {
        const id = parseInt(params[0].chainId, 16);
        if (!known.includes(id)) throw Object.assign(new Error('Unrecognized chain ID'), { code: 4902 });
        chain = id; return null;
      }
      case 'wallet_addEthereumChain': known.push(parseInt(params[0].chainId, 16)); return null;
      case 'eth_signTypedData_v4':
        if (params[0].toLowerCase() !== opts.account.toLowerCase()) throw new Error('unknown account');
        if (typeof params[1] !== 'string') throw new Error('typed data must be a JSON string');
        return opts.signature ?? sign(params[1]);
    }
    throw Object.assign(new Error('unsupported ' + method), { code: 4200 });
  } };
}
export function fakeServer(opts) {
  const seen = [];
  const fetch = async (req) => {
    const sig = req.headers.get('PAYMENT-SIGNATURE') ?? req.headers.get('X-PAYMENT');
    seen.push({ sig, name: req.headers.has('X-PAYMENT') ? 'X-PAYMENT' : 'PAYMENT-SIGNATURE', body: await req.clone().text() });
    if (sig && opts.failPaid > 0) { opts.failPaid--; throw new TypeError('Failed to fetch'); }
    // Scripted answers to paid requests, in order: [status, errorReason] (402 + PAYMENT-RESPONSE).
    const next = sig && opts.paid?.shift();
    if (next) {
      const [status, reason] = next;
      const receipt = btoa(JSON.stringify({ success: false, errorReason: reason, network: 'eip155:31337', transaction: '0x' + '12'.repeat(32) }));
      return new Response(JSON.stringify({ error: reason }), { status, headers: reason ? { 'PAYMENT-RESPONSE': receipt } : {} });
    }
    if (sig && !opts.again) return new Response('paid', { status: 200, headers: { 'PAYMENT-RESPONSE': opts.receipt } });
    if (opts.v1Body) return new Response(opts.v1Body, { status: 402, headers: { 'content-type': 'application/json' } });
    const headers = opts.challenge ? { 'PAYMENT-REQUIRED': opts.challenge } : {};
    return new Response(opts.body ?? '{}', { status: 402, headers });
  };
  return { seen, fetch };
}
export function memoryStorage() {
  const m = new Map();
  return { m, getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) };
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = fakeWallet)]
    fn fake_wallet(opts: &JsValue, sign: &Function) -> JsValue;
    #[wasm_bindgen(js_name = fakeServer)]
    fn fake_server(opts: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = memoryStorage)]
    fn memory_storage() -> JsValue;
}

const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const PAY_TO: &str = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f";

/// `wrapFetch`'s function, held as the tests call it.
struct PayingFetch(Function);

impl PayingFetch {
    fn new(fetch: JsValue, wallet: JsValue, options: JsValue) -> Result<Self, JsValue> {
        wrap_fetch(fetch, wallet, options).map(Self)
    }

    fn fetch(&self, input: JsValue, init: JsValue) -> js_sys::Promise {
        self.0
            .call2(&JsValue::NULL, &input, &init)
            .unwrap()
            .unchecked_into()
    }
}

fn signer() -> LocalSigner {
    LocalSigner::from_hex(KEY).unwrap()
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &k.into()).unwrap()
}

fn extra() -> JsonMap {
    let mut m = JsonMap::new();
    m.insert("name".into(), "USD Coin".into());
    m.insert("version".into(), "2".into());
    m
}

fn requirement(amount: u64) -> v2::PaymentRequirements {
    v2::PaymentRequirements {
        scheme: "exact".into(),
        network: Network::eip155(31337),
        amount: U256::from(amount),
        asset: TOKEN.into(),
        pay_to: PAY_TO.into(),
        max_timeout_seconds: 300,
        extra: Some(extra()),
        other: JsonMap::new(),
    }
}

fn challenge(amount: u64) -> (v2::PaymentRequired, String) {
    let c = v2::PaymentRequired {
        x402_version: x402_core::wire::V2,
        error: None,
        resource: v2::ResourceInfo::new("https://news.test/paid/one"),
        accepts: vec![requirement(amount)],
        extensions: None,
    };
    let h = header::encode(&c).unwrap();
    (c, h)
}

fn receipt() -> String {
    let r: SettleResponse = serde_json::from_value(serde_json::json!({
        "success": true, "transaction": format!("0x{}", "ab".repeat(32)), "network": "eip155:31337",
        "payer": signer().address().to_checksum(None)
    }))
    .unwrap();
    header::encode(&r).unwrap()
}

/// Signs typed-data JSON text with the test key, as a wallet would.
fn sign_fn() -> Function {
    let f = Closure::<dyn Fn(String) -> String>::new(|json: String| {
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let (domain, msg) = parse_transfer_typed_data(&v).unwrap();
        let sig = signer().sign_hash(&signing_hash(&domain, &msg)).unwrap();
        x402_core::Bytes::from(sig.to_bytes().to_vec()).to_string()
    });
    f.into_js_value().unchecked_into()
}

fn wallet(chain: u64, extra_opts: &[(&str, JsValue)]) -> JsValue {
    let mut opts = vec![
        ("chainId", JsValue::from(chain as f64)),
        ("account", signer().address().to_checksum(None).into()),
    ];
    opts.extend(extra_opts.iter().cloned());
    fake_wallet(&obj(&opts), &sign_fn())
}

fn server(extra_opts: &[(&str, JsValue)]) -> JsValue {
    let mut opts = vec![("receipt", JsValue::from(receipt()))];
    opts.extend(extra_opts.iter().cloned());
    fake_server(&obj(&opts))
}

async fn pay(
    server: &JsValue,
    wallet: &JsValue,
    options: &JsValue,
    init: &JsValue,
) -> Result<JsValue, JsValue> {
    let payer = PayingFetch::new(get(server, "fetch"), wallet.clone(), options.clone())?;
    JsFuture::from(payer.fetch("https://news.test/paid/one".into(), init.clone())).await
}

fn seen(server: &JsValue) -> js_sys::Array {
    get(server, "seen").unchecked_into()
}

fn code(err: &JsValue) -> String {
    get(err, "code").as_string().unwrap_or_default()
}

fn calls(wallet: &JsValue) -> Vec<String> {
    js_sys::Array::from(&get(wallet, "calls"))
        .iter()
        .map(|v| v.as_string().unwrap())
        .collect()
}

/// `wrapFetch` with the one option `key: bad` throws `invalid_config` naming the option.
fn refused_as_invalid_config(key: &str, bad: JsValue) {
    let err = PayingFetch::new(JsValue::UNDEFINED, JsValue::UNDEFINED, obj(&[(key, bad)]))
        .err()
        .unwrap();
    assert_eq!(code(&err), "invalid_config");
    let message = get(&err, "message").as_string().unwrap();
    assert!(message.contains(key), "{message}");
}

fn now() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

#[wasm_bindgen_test]
async fn pays_v2_once_with_a_verifiable_signature_and_keeps_the_body() {
    let (c, h) = challenge(10_000);
    let srv = server(&[("challenge", h.into())]);
    let w = wallet(31337, &[]);
    let init = obj(&[("method", "POST".into()), ("body", "article=1".into())]);
    let statuses = js_sys::Array::new();
    let s2 = statuses.clone();
    let on_status = Closure::<dyn Fn(JsValue)>::new(move |s: JsValue| {
        s2.push(&s);
    });
    let opts = obj(&[("onStatus", on_status.into_js_value())]);
    let res = pay(&srv, &w, &opts, &init).await.unwrap();
    assert_eq!(get(&res, "status").as_f64(), Some(200.0));
    let sent = seen(&srv);
    assert_eq!(sent.length(), 2, "one paid retry, no loop");
    let paid = sent.get(1);
    assert_eq!(get(&paid, "body").as_string().unwrap(), "article=1");
    assert_eq!(get(&paid, "name").as_string().unwrap(), "PAYMENT-SIGNATURE");
    let payload =
        header::decode_payment_signature(&get(&paid, "sig").as_string().unwrap()).unwrap();
    assert_eq!(payload.accepted, c.accepts[0]);
    assert_eq!(
        payload.resource.as_ref().unwrap().url,
        "https://news.test/paid/one"
    );
    let verdict = verify::verify_v2(&payload, &c.accepts, now()).unwrap();
    assert!(
        matches!(verdict, verify::Verdict::Valid(_)),
        "an EOA signature that recovers"
    );
    assert_eq!(verdict.payment().payer, signer().address());
    assert_eq!(
        calls(&w),
        ["eth_requestAccounts", "eth_chainId", "eth_signTypedData_v4"]
    );
    let states: Vec<String> = statuses.iter().map(|s| s.as_string().unwrap()).collect();
    assert_eq!(states, ["connect", "sign", "settling"]);
    let receipt = x402_browser::payment_receipt(&res).unwrap();
    assert_eq!(get(&receipt, "success"), JsValue::TRUE);
}

#[wasm_bindgen_test]
async fn v1_body_challenge_is_paid_with_x_payment() {
    let req = v1::PaymentRequirements {
        scheme: "exact".into(),
        network: "base-sepolia".into(),
        max_amount_required: U256::from(5_000u64),
        resource: "https://news.test/paid/one".into(),
        description: "v1 thing".into(),
        mime_type: Some("text/html".into()),
        output_schema: None,
        pay_to: PAY_TO.into(),
        max_timeout_seconds: 60,
        asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e".into(),
        extra: Some({
            let mut m = JsonMap::new();
            m.insert("name".into(), "USDC".into());
            m.insert("version".into(), "2".into());
            m
        }),
        other: JsonMap::new(),
    };
    let body =
        serde_json::json!({ "x402Version": 1, "error": "pay", "accepts": [req] }).to_string();
    let srv = server(&[("v1Body", body.into())]);
    let w = wallet(84532, &[]);
    let res = pay(&srv, &w, &JsValue::UNDEFINED, &JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(get(&res, "status").as_f64(), Some(200.0));
    let paid = seen(&srv).get(1);
    assert_eq!(get(&paid, "name").as_string().unwrap(), "X-PAYMENT");
    let p = header::decode_x_payment(&get(&paid, "sig").as_string().unwrap()).unwrap();
    assert_eq!(
        (p.scheme.as_str(), p.network.as_str()),
        ("exact", "base-sepolia")
    );
    let r = ExactEvmRequirement::from_v1(&req).unwrap();
    let auth: x402_core::scheme::exact::ExactEvmPayload =
        x402_core::scheme::exact::ExactEvmPayload::from_json(&p.payload).unwrap();
    assert_eq!(auth.authorization.value, U256::from(5_000u64));
    assert_eq!(auth.authorization.to, r.pay_to);
}

#[wasm_bindgen_test]
async fn user_rejection_in_the_wallet_is_user_rejected_and_nothing_is_sent() {
    let (_, h) = challenge(10_000);
    let srv = server(&[("challenge", h.into())]);
    let w = wallet(31337, &[("reject", "eth_signTypedData_v4".into())]);
    let err = pay(&srv, &w, &JsValue::UNDEFINED, &JsValue::UNDEFINED)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "user_rejected");
    assert_eq!(seen(&srv).length(), 1);
    let w = wallet(31337, &[("reject", "eth_requestAccounts".into())]);
    let err = pay(&srv, &w, &JsValue::UNDEFINED, &JsValue::UNDEFINED)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "user_rejected");
}

#[wasm_bindgen_test]
async fn confirm_sees_the_offer_and_can_decline_before_the_wallet_is_touched() {
    let (_, h) = challenge(10_000);
    let srv = server(&[("challenge", h.into())]);
    let w = wallet(31337, &[]);
    let offers = js_sys::Array::new();
    let o2 = offers.clone();
    let confirm = Closure::<dyn Fn(JsValue) -> JsValue>::new(move |o: JsValue| {
        o2.push(&o);
        JsValue::FALSE
    });
    let opts = obj(&[("confirm", confirm.into_js_value())]);
    let err = pay(&srv, &w, &opts, &JsValue::UNDEFINED).await.unwrap_err();
    assert_eq!(code(&err), "user_rejected");
    assert!(calls(&w).is_empty());
    let offer = offers.get(0);
    assert_eq!(get(&offer, "price").as_string().unwrap(), "0.01");
    assert_eq!(get(&offer, "symbol").as_string().unwrap(), "USDC");
    assert_eq!(get(&offer, "amount").as_string().unwrap(), "10000");
    assert_eq!(get(&offer, "payTo").as_string().unwrap(), PAY_TO);
    assert_eq!(get(&offer, "network").as_string().unwrap(), "eip155:31337");
}

#[wasm_bindgen_test]
async fn wrong_chain_is_switched_added_or_refused() {
    let (_, h) = challenge(10_000);
    // Knows the chain: switched, then paid.
    let srv = server(&[("challenge", h.clone().into())]);
    let w = wallet(
        1,
        &[("known", js_sys::Array::of2(&1.into(), &31337.into()).into())],
    );
    pay(&srv, &w, &JsValue::UNDEFINED, &JsValue::UNDEFINED)
        .await
        .unwrap();
    assert!(calls(&w).contains(&"wallet_switchEthereumChain".to_string()));
    // Does not know it and no parameters to add it: wrong_chain, nothing signed.
    let srv = server(&[("challenge", h.clone().into())]);
    let w = wallet(1, &[]);
    let err = pay(&srv, &w, &JsValue::UNDEFINED, &JsValue::UNDEFINED)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "wrong_chain");
    assert!(!calls(&w).contains(&"eth_signTypedData_v4".to_string()));
    // With parameters: added, switched, paid.
    let chains = JSON::parse(r#"{"eip155:31337":{"chainId":"0x7a69","chainName":"anvil","rpcUrls":["http://127.0.0.1:8545"]}}"#).unwrap();
    let w = wallet(1, &[]);
    pay(&srv, &w, &obj(&[("chains", chains)]), &JsValue::UNDEFINED)
        .await
        .unwrap();
    assert!(calls(&w).contains(&"wallet_addEthereumChain".to_string()));
    // The user refuses the switch.
    let w = wallet(1, &[("reject", "wallet_switchEthereumChain".into())]);
    let err = pay(&srv, &w, &JsValue::UNDEFINED, &JsValue::UNDEFINED)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "user_rejected");
}

#[wasm_bindgen_test]
async fn budget_per_origin_is_enforced_and_persisted() {
    let (_, h) = challenge(10_000);
    let srv = server(&[("challenge", h.into())]);
    let storage = memory_storage();
    let opts = obj(&[
        ("budget", obj(&[("limit", "15000".into())])),
        ("storage", storage.clone()),
    ]);
    pay(&srv, &wallet(31337, &[]), &opts, &JsValue::UNDEFINED)
        .await
        .unwrap();
    let stored = item(&storage, "x402:budget");
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["spent"]["https://news.test"]["amount"], "10000");
    let w = wallet(31337, &[]);
    let err = pay(&srv, &w, &opts, &JsValue::UNDEFINED).await.unwrap_err();
    assert_eq!(code(&err), "over_budget");
    assert!(get(&err, "message").as_string().unwrap().contains("budget"));
    assert!(calls(&w).is_empty(), "refused before the wallet");
    // The default storage in a page is localStorage.
    let key = format!("x402:test-budget-{}", js_sys::Math::random());
    let opts = obj(&[(
        "budget",
        obj(&[("limit", "5000".into()), ("storageKey", key.clone().into())]),
    )]);
    let err = pay(&srv, &wallet(31337, &[]), &opts, &JsValue::UNDEFINED)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "over_budget");
    let opts = obj(&[(
        "budget",
        obj(&[
            ("limit", "20000".into()),
            ("storageKey", key.clone().into()),
        ]),
    )]);
    pay(&srv, &wallet(31337, &[]), &opts, &JsValue::UNDEFINED)
        .await
        .unwrap();
    let text = item(&get(&js_sys::global(), "localStorage"), &key);
    assert!(text.contains("\"10000\""), "{text}");

    // What another tab spent (written to storage between two payments) counts, and a limit
    // kept in storage applies when the options give none.
    let storage = memory_storage();
    let opts = obj(&[("budget", obj(&[])), ("storage", storage.clone())]);
    let t = now();
    let other_tab = format!(
        r#"{{"limit":"25000","periodSeconds":86400,"spent":{{"https://news.test":{{"periodStart":{},"amount":"20000"}}}}}}"#,
        t - t % 86_400
    );
    let set_item: Function = get(&storage, "setItem").unchecked_into();
    set_item
        .call2(&storage, &"x402:budget".into(), &other_tab.into())
        .unwrap();
    let w = wallet(31337, &[]);
    let err = pay(&srv, &w, &opts, &JsValue::UNDEFINED).await.unwrap_err();
    assert_eq!(
        code(&err),
        "over_budget",
        "20000 spent of 25000: 10000 more is over"
    );
    assert!(calls(&w).is_empty());
    // Storage that throws (blocked, full) leaves the budget in memory: it still holds.
    let blocked = obj(&[
        (
            "getItem",
            Function::new_no_args("throw new Error('blocked')").into(),
        ),
        (
            "setItem",
            Function::new_no_args("throw new Error('blocked')").into(),
        ),
    ]);
    let opts = obj(&[
        ("budget", obj(&[("limit", "15000".into())])),
        ("storage", blocked),
    ]);
    let payer = PayingFetch::new(get(&srv, "fetch"), wallet(31337, &[]), opts).unwrap();
    let url = JsValue::from("https://news.test/paid/one");
    JsFuture::from(payer.fetch(url.clone(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let err = JsFuture::from(payer.fetch(url, JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "over_budget");
}

fn item(storage: &JsValue, key: &str) -> String {
    let get_item: Function = get(storage, "getItem").unchecked_into();
    get_item
        .call1(storage, &key.into())
        .unwrap()
        .as_string()
        .unwrap()
}

#[wasm_bindgen_test]
async fn over_max_and_allow_lists_refuse_before_the_wallet() {
    let (_, h) = challenge(200_000);
    let srv = server(&[("challenge", h.into())]);
    let w = wallet(31337, &[]);
    let err = pay(&srv, &w, &JsValue::UNDEFINED, &JsValue::UNDEFINED)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "over_max");
    let opts = obj(&[("maxAmount", "300000".into())]);
    pay(&srv, &w, &opts, &JsValue::UNDEFINED).await.unwrap();
    let (_, h) = challenge(10_000);
    let srv = server(&[("challenge", h.into())]);
    let opts = obj(&[(
        "allowedNetworks",
        js_sys::Array::of1(&"eip155:8453".into()).into(),
    )]);
    let err = pay(&srv, &wallet(31337, &[]), &opts, &JsValue::UNDEFINED)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "no_acceptable_requirement");
    let err = PayingFetch::new(
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
        obj(&[("maxAmount", "-1".into())]),
    )
    .err()
    .unwrap();
    assert_eq!(code(&err), "invalid_config");
}

#[wasm_bindgen_test]
async fn malformed_challenges_are_malformed_challenge() {
    for (k, v) in [
        ("challenge", "not base64!"),
        ("challenge", "e30="),
        ("body", "<html>pay me</html>"),
    ] {
        let srv = server(&[(k, v.into())]);
        let err = pay(
            &srv,
            &wallet(31337, &[]),
            &JsValue::UNDEFINED,
            &JsValue::UNDEFINED,
        )
        .await
        .unwrap_err();
        let c = code(&err);
        assert!(
            c == "malformed_challenge" || c == "invalid_x402_version",
            "{k}={v}: {c}"
        );
        assert!(get(&err, "message").is_string());
        assert_eq!(seen(&srv).length(), 1);
    }
}

#[wasm_bindgen_test]
async fn a_network_failure_re_sends_the_same_payment_without_a_new_signature() {
    let (_, h) = challenge(10_000);
    let srv = server(&[("challenge", h.into()), ("failPaid", 1.into())]);
    let w = wallet(31337, &[]);
    let payer = PayingFetch::new(get(&srv, "fetch"), w.clone(), JsValue::UNDEFINED).unwrap();
    let first =
        JsFuture::from(payer.fetch("https://news.test/paid/one".into(), JsValue::UNDEFINED)).await;
    assert!(first.unwrap_err().is_instance_of::<js_sys::TypeError>());
    let second =
        JsFuture::from(payer.fetch("https://news.test/paid/one".into(), JsValue::UNDEFINED))
            .await
            .unwrap();
    assert_eq!(get(&second, "status").as_f64(), Some(200.0));
    // The kept payment goes out at once: no unpaid request first.
    let sent = seen(&srv);
    assert_eq!(sent.length(), 3);
    assert_eq!(get(&sent.get(1), "sig"), get(&sent.get(2), "sig"));
    assert_eq!(signs(&w), 1);
}

fn signs(wallet: &JsValue) -> usize {
    calls(wallet)
        .iter()
        .filter(|c| *c == "eth_signTypedData_v4")
        .count()
}

/// Answers the fake server gives to paid requests, in order: `[status, errorReason]`.
fn paid_answers(answers: &[(u16, &str)]) -> JsValue {
    answers
        .iter()
        .map(|(status, reason)| {
            js_sys::Array::of2(&JsValue::from(f64::from(*status)), &JsValue::from(*reason))
        })
        .collect::<js_sys::Array>()
        .into()
}

fn status_log() -> (js_sys::Array, JsValue) {
    let log = js_sys::Array::new();
    let l2 = log.clone();
    let f = Closure::<dyn Fn(JsValue)>::new(move |s: JsValue| {
        l2.push(&s);
    });
    (log, f.into_js_value())
}

/// `settlement_pending` (and a 5xx) leave the payment's outcome unknown: the same payment is the
/// only one re-sent, at once, until an answer settles it; the wallet signs once; the pending
/// answer is returned, not thrown; `onStatus` says `pending`. Issue #9.2: before, the paying fetch
/// forgot the payment after any answer and the next call signed a second one.
#[wasm_bindgen_test]
async fn a_pending_settlement_is_re_sent_and_never_signed_again() {
    let (_, h) = challenge(10_000);
    let paid = paid_answers(&[
        (402, "settlement_pending"),
        (503, ""),
        (402, "settlement_pending"),
    ]);
    let srv = server(&[("challenge", h.into()), ("paid", paid)]);
    let w = wallet(31337, &[]);
    let (log, on_status) = status_log();
    let opts = obj(&[("onStatus", on_status)]);
    let payer = PayingFetch::new(get(&srv, "fetch"), w.clone(), opts).unwrap();
    let url = JsValue::from("https://news.test/paid/one");
    for expected in [402.0, 503.0, 402.0, 200.0] {
        let res = JsFuture::from(payer.fetch(url.clone(), JsValue::UNDEFINED))
            .await
            .unwrap();
        assert_eq!(get(&res, "status").as_f64(), Some(expected));
    }
    let sent = seen(&srv);
    assert_eq!(
        sent.length(),
        5,
        "one unpaid request, then the payment four times"
    );
    for i in 2..5 {
        assert_eq!(get(&sent.get(1), "sig"), get(&sent.get(i), "sig"));
    }
    assert_eq!(signs(&w), 1, "one signature");
    let states: Vec<String> = log.iter().map(|s| s.as_string().unwrap()).collect();
    assert_eq!(
        states,
        [
            "connect", "sign", "settling", "pending", "settling", "pending", "settling", "pending",
            "settling"
        ]
    );
    // Settled: forgotten. The next 402 is a new payment.
    JsFuture::from(payer.fetch(url.clone(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(signs(&w), 2);
    assert_eq!(seen(&srv).length(), 7);

    // Two calls at once: one signature, both send it.
    let srv = server(&[("challenge", challenge(10_000).1.into())]);
    let w = wallet(31337, &[]);
    let payer = PayingFetch::new(get(&srv, "fetch"), w.clone(), JsValue::UNDEFINED).unwrap();
    let both = js_sys::Promise::all(&js_sys::Array::of2(
        &payer.fetch(url.clone(), JsValue::UNDEFINED),
        &payer.fetch(url.clone(), JsValue::UNDEFINED),
    ));
    JsFuture::from(both).await.unwrap();
    assert_eq!(signs(&w), 1);
}

/// A refusal after a pending answer is definitive: the payment is forgotten and a new 402 may be
/// paid anew.
#[wasm_bindgen_test]
async fn a_definitive_refusal_after_pending_forgets_the_payment() {
    let (_, h) = challenge(10_000);
    let paid = paid_answers(&[
        (402, "settlement_pending"),
        (402, "invalid_exact_evm_transaction_failed"),
    ]);
    let srv = server(&[("challenge", h.into()), ("paid", paid)]);
    let w = wallet(31337, &[]);
    let payer = PayingFetch::new(get(&srv, "fetch"), w.clone(), JsValue::UNDEFINED).unwrap();
    let url = JsValue::from("https://news.test/paid/one");
    for expected in [402.0, 402.0, 200.0] {
        let res = JsFuture::from(payer.fetch(url.clone(), JsValue::UNDEFINED))
            .await
            .unwrap();
        assert_eq!(get(&res, "status").as_f64(), Some(expected));
    }
    assert_eq!(signs(&w), 2, "signed anew after the refusal");
    let sent = seen(&srv);
    assert_eq!(sent.length(), 5);
    assert_ne!(get(&sent.get(2), "sig"), get(&sent.get(4), "sig"));
}

/// With `pendingStorage` a pending payment outlives the paying fetch (a page reload): a new one
/// sends it before anything else, without a wallet; it is removed once the content came.
#[wasm_bindgen_test]
async fn a_pending_payment_in_storage_is_re_sent_after_a_reload() {
    let (_, h) = challenge(10_000);
    let paid = paid_answers(&[(402, "settlement_pending")]);
    let srv = server(&[("challenge", h.into()), ("paid", paid)]);
    let storage = memory_storage();
    let opts = obj(&[("pendingStorage", storage.clone())]);
    let url = JsValue::from("https://news.test/paid/one");
    let payer = PayingFetch::new(get(&srv, "fetch"), wallet(31337, &[]), opts.clone()).unwrap();
    JsFuture::from(payer.fetch(url.clone(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let kept = item(&storage, "x402:pending:https://news.test/paid/one");
    let kept: serde_json::Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(kept["name"], "PAYMENT-SIGNATURE");
    assert_eq!(kept["offer"]["price"], "0.01");
    // "Reloaded": a new paying fetch, and no wallet at all.
    let payer = PayingFetch::new(get(&srv, "fetch"), JsValue::UNDEFINED, opts).unwrap();
    let res = JsFuture::from(payer.fetch(url, JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(get(&res, "status").as_f64(), Some(200.0));
    let sent = seen(&srv);
    assert_eq!(sent.length(), 3);
    assert_eq!(get(&sent.get(1), "sig"), get(&sent.get(2), "sig"));
    let m: js_sys::Map = get(&storage, "m").unchecked_into();
    assert_eq!(m.size(), 0, "removed once settled");
}

/// A kept payment too close to its end to be accepted may still be mined until its
/// `validBefore` (plus half a minute for block time): the paying fetch neither re-sends it nor
/// asks the wallet for a new one before then (`payment_pending`); after that it is forgotten and
/// the next 402 is paid anew.
#[wasm_bindgen_test]
async fn a_pending_payment_near_its_end_blocks_a_second_signature_until_it_expired() {
    let url = "https://news.test/paid/one";
    let key = format!("x402:pending:{url}");
    let kept = |until: u64| {
        format!(
            r#"{{"name":"PAYMENT-SIGNATURE","value":"old","until":{until},"offer":{{"price":"0.01"}}}}"#
        )
    };
    for (until, expect_pending) in [(now() + 3, true), (now() - 10, true), (now() - 31, false)] {
        let srv = server(&[("challenge", challenge(10_000).1.into())]);
        let storage = memory_storage();
        let m: js_sys::Map = get(&storage, "m").unchecked_into();
        m.set(&key.as_str().into(), &kept(until).into());
        let (log, on_status) = status_log();
        let w = wallet(31337, &[]);
        let opts = obj(&[("pendingStorage", storage.clone()), ("onStatus", on_status)]);
        let payer = PayingFetch::new(get(&srv, "fetch"), w.clone(), opts).unwrap();
        let answer = JsFuture::from(payer.fetch(url.into(), JsValue::UNDEFINED)).await;
        if expect_pending {
            let err = answer.unwrap_err();
            assert_eq!(code(&err), "payment_pending", "until {until}");
            assert_eq!(
                signs(&w),
                0,
                "no second signature while the first may settle"
            );
            assert_eq!(seen(&srv).length(), 0, "nothing sent");
            assert_eq!(log.get(0).as_string().as_deref(), Some("pending"));
        } else {
            assert_eq!(get(&answer.unwrap(), "status").as_f64(), Some(200.0));
            assert_eq!(signs(&w), 1, "expired for good: paid anew");
            assert_ne!(
                get(&seen(&srv).get(1), "sig").as_string().as_deref(),
                Some("old")
            );
        }
    }
}

#[wasm_bindgen_test]
async fn never_loops_and_needs_a_wallet() {
    let (_, h) = challenge(10_000);
    let srv = server(&[("challenge", h.clone().into()), ("again", JsValue::TRUE)]);
    let res = pay(
        &srv,
        &wallet(31337, &[]),
        &JsValue::UNDEFINED,
        &JsValue::UNDEFINED,
    )
    .await
    .unwrap();
    assert_eq!(
        get(&res, "status").as_f64(),
        Some(402.0),
        "a second 402 is returned, not paid again"
    );
    assert_eq!(seen(&srv).length(), 2);
    let init = obj(&[("headers", obj(&[("PAYMENT-SIGNATURE", "e30=".into())]))]);
    let err = pay(&srv, &wallet(31337, &[]), &JsValue::UNDEFINED, &init)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "payment_already_attempted");
    let srv = server(&[("challenge", h.into())]);
    let err = pay(
        &srv,
        &JsValue::UNDEFINED,
        &JsValue::UNDEFINED,
        &JsValue::UNDEFINED,
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "no_wallet");
}

#[wasm_bindgen_test]
async fn smart_wallet_signatures_pass_through_unchanged() {
    let (_, h) = challenge(10_000);
    let srv = server(&[("challenge", h.into())]);
    let long = format!("0x{}{}", "12".repeat(100), "6492".repeat(16));
    let w = wallet(31337, &[("signature", long.clone().into())]);
    pay(&srv, &w, &JsValue::UNDEFINED, &JsValue::UNDEFINED)
        .await
        .unwrap();
    let p = header::decode_payment_signature(&get(&seen(&srv).get(1), "sig").as_string().unwrap())
        .unwrap();
    assert_eq!(p.payload["signature"], long);
    let _ = (build_authorization, Address::ZERO);
}

/// The policy options read field by field (no serde in the browser build): an allowed asset's own
/// cap, an asset list that excludes the offer, malformed entries, and network preferences.
#[wasm_bindgen_test]
async fn asset_lists_caps_and_preferences_come_from_the_options() {
    let allowed = |network: &str, asset: &str, max: Option<&str>| {
        let mut pairs = vec![("network", network.into()), ("asset", asset.into())];
        if let Some(m) = max {
            pairs.push(("maxAmount", m.into()));
        }
        js_sys::Array::of1(&obj(&pairs)).into()
    };
    // $0.20 is over the default maximum; the token's own cap of $0.30 lets it through.
    let (_, h) = challenge(200_000);
    let srv = server(&[("challenge", h.into())]);
    let opts = obj(&[(
        "allowedAssets",
        allowed("eip155:31337", &TOKEN.to_lowercase(), Some("300000")),
    )]);
    pay(&srv, &wallet(31337, &[]), &opts, &JsValue::UNDEFINED)
        .await
        .unwrap();
    // Only another asset allowed: refused before the wallet.
    let w = wallet(31337, &[]);
    let opts = obj(&[("allowedAssets", allowed("eip155:31337", PAY_TO, None))]);
    let err = pay(&srv, &w, &opts, &JsValue::UNDEFINED).await.unwrap_err();
    assert_eq!(code(&err), "no_acceptable_requirement");
    assert!(calls(&w).is_empty(), "the wallet was not asked");
    // Malformed options are invalid_config, naming the option.
    for (key, bad) in [
        ("allowedAssets", allowed("31337", TOKEN, None)),
        ("allowedAssets", allowed("eip155:31337", TOKEN, Some("1.5"))),
        (
            "allowedAssets",
            js_sys::Array::of1(&obj(&[("network", "eip155:31337".into())])).into(),
        ),
        ("allowedAssets", "eip155:31337".into()),
        (
            "preferredNetworks",
            js_sys::Array::of1(&"base".into()).into(),
        ),
    ] {
        refused_as_invalid_config(key, bad);
    }
    // Two offers, another chain first: the preferred network is chosen.
    let mut other = requirement(10_000);
    other.network = Network::eip155(84532);
    let c = v2::PaymentRequired {
        x402_version: x402_core::wire::V2,
        error: None,
        resource: v2::ResourceInfo::new("https://news.test/paid/one"),
        accepts: vec![other, requirement(10_000)],
        extensions: None,
    };
    let srv = server(&[("challenge", header::encode(&c).unwrap().into())]);
    let opts = obj(&[(
        "preferredNetworks",
        js_sys::Array::of1(&"eip155:31337".into()).into(),
    )]);
    pay(&srv, &wallet(31337, &[]), &opts, &JsValue::UNDEFINED)
        .await
        .unwrap();
    let paid = seen(&srv).get(1);
    let payload =
        header::decode_payment_signature(&get(&paid, "sig").as_string().unwrap()).unwrap();
    assert_eq!(payload.accepted, c.accepts[1]);
}

#[wasm_bindgen_test]
async fn amount_options_take_strings_safe_integers_and_bigints_and_refuse_the_rest() {
    // $0.20, over the default maximum: each spelling of a $0.30 cap lets it through.
    let (_, h) = challenge(200_000);
    for cap in [
        JsValue::from("300000"),
        JsValue::from(300_000.0),
        js_sys::BigInt::from(300_000u64).into(),
    ] {
        let srv = server(&[("challenge", h.clone().into())]);
        let opts = obj(&[("maxAmount", cap)]);
        pay(&srv, &wallet(31337, &[]), &opts, &JsValue::UNDEFINED)
            .await
            .unwrap();
        assert_eq!(seen(&srv).length(), 2, "paid once");
    }
    // A cap that is not a whole number of atomic units is refused, never read as "no cap"
    // (JSON would write NaN and Infinity as null, which means no cap).
    for (key, bad) in [
        ("maxAmount", JsValue::from(f64::NAN)),
        ("maxAmount", JsValue::from(f64::INFINITY)),
        ("maxAmount", JsValue::from(1.5)),
        ("maxAmount", JsValue::from(-1.0)),
        ("maxAmount", JsValue::from(2f64.powi(60))),
        ("maxAmount", JsValue::from("0x10")),
        ("allowedNetworks", JsValue::from("eip155:31337")),
        ("budget", obj(&[("limit", JsValue::from(f64::NAN))])),
        ("budget", obj(&[("periodSeconds", JsValue::from(0.0))])),
        ("budget", obj(&[("storageKey", JsValue::from(7.0))])),
    ] {
        refused_as_invalid_config(key, bad);
    }
    // Options that JSON cannot represent (a cycle) are invalid_config too, not a crash.
    let cyclic = Object::new();
    Reflect::set(&cyclic, &"self".into(), &cyclic).unwrap();
    let err = PayingFetch::new(
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
        obj(&[("budget", cyclic.into())]),
    )
    .err()
    .unwrap();
    assert_eq!(code(&err), "invalid_config");
}

/// A challenge whose one requirement is changed by `edit` (a hostile server's terms).
fn hostile(edit: impl FnOnce(&mut v2::PaymentRequirements)) -> String {
    let (mut c, _) = challenge(10_000);
    edit(&mut c.accepts[0]);
    header::encode(&c).unwrap()
}

const OTHER_TOKEN: &str = "0x1111111111111111111111111111111111111111";

/// What the client signs is bounded whatever the server asks (issue #10.4): a token outside the
/// known table is refused unless allowed with its decimals; the cap applies in the token's own
/// units; an authorization valid for 10^12 s is refused. Before, each of these reached the
/// wallet (and a 0-decimal token of 3 units was shown as 0.000003).
#[wasm_bindgen_test]
async fn hostile_terms_are_refused_before_the_wallet() {
    let unknown = hostile(|r| {
        r.asset = OTHER_TOKEN.into();
        r.amount = U256::from(3u8);
    });
    let srv = server(&[("challenge", unknown.clone().into())]);
    let w = wallet(31337, &[]);
    let err = pay(&srv, &w, &JsValue::UNDEFINED, &JsValue::UNDEFINED)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "no_acceptable_requirement");
    assert!(
        get(&err, "message")
            .as_string()
            .unwrap()
            .contains("not a known stablecoin"),
        "{err:?}"
    );
    assert!(calls(&w).is_empty(), "the wallet was not asked");

    // Allowed with its decimals (0) and its own cap: the price is 3 tokens, and it is paid.
    let allowed = |decimals: f64, max: Option<&str>| {
        let mut entry = vec![
            ("network", "eip155:31337".into()),
            ("asset", OTHER_TOKEN.into()),
            ("decimals", decimals.into()),
        ];
        if let Some(m) = max {
            entry.push(("maxAmount", m.into()));
        }
        js_sys::Array::of1(&obj(&entry)).into()
    };
    let offers = js_sys::Array::new();
    let o2 = offers.clone();
    let confirm = Closure::<dyn Fn(JsValue) -> JsValue>::new(move |o: JsValue| {
        o2.push(&o);
        JsValue::TRUE
    });
    let confirm = confirm.into_js_value();
    let srv = server(&[("challenge", unknown.clone().into())]);
    let opts = obj(&[
        ("allowedAssets", allowed(0.0, Some("5"))),
        ("confirm", confirm.clone()),
    ]);
    pay(&srv, &wallet(31337, &[]), &opts, &JsValue::UNDEFINED)
        .await
        .unwrap();
    let offer = offers.get(0);
    assert_eq!(get(&offer, "price").as_string().unwrap(), "3");
    assert_eq!(get(&offer, "decimals").as_f64(), Some(0.0));
    // Without its own cap, the default (0.10 of a token) is none of a 0-decimal token.
    let w = wallet(31337, &[]);
    let opts = obj(&[("allowedAssets", allowed(0.0, None))]);
    let err = pay(&srv, &w, &opts, &JsValue::UNDEFINED).await.unwrap_err();
    assert_eq!(code(&err), "over_max");
    assert!(calls(&w).is_empty());

    // An 18-decimal token: 0.05 of it (5 * 10^16 units) is under the default $0.10 cap and
    // counts 50000 (millionths of a token) in the budget; 0.2 of it is over the cap.
    let tenth = U256::from(10u8).pow(U256::from(17u8));
    let storage = memory_storage();
    for (amount, ok) in [
        (tenth / U256::from(2u8), true),
        (tenth * U256::from(2u8), false),
    ] {
        let c = hostile(|r| {
            r.asset = OTHER_TOKEN.into();
            r.amount = amount;
        });
        let srv = server(&[("challenge", c.into())]);
        let w = wallet(31337, &[]);
        let opts = obj(&[
            ("allowedAssets", allowed(18.0, None)),
            ("budget", obj(&[])),
            ("storage", storage.clone()),
        ]);
        let res = pay(&srv, &w, &opts, &JsValue::UNDEFINED).await;
        if ok {
            res.unwrap();
            let stored = item(&storage, "x402:budget");
            let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
            assert_eq!(stored["spent"]["https://news.test"]["amount"], "50000");
        } else {
            let err = res.unwrap_err();
            assert_eq!(code(&err), "over_max");
            assert!(
                get(&err, "message")
                    .as_string()
                    .unwrap()
                    .contains("maximum per payment 100000000000000000 "),
                "{err:?}"
            );
            assert!(calls(&w).is_empty());
        }
    }

    // maxTimeoutSeconds of 10^12 (an authorization valid for 30,000 years): refused.
    let forever = hostile(|r| r.max_timeout_seconds = 1_000_000_000_000);
    let srv = server(&[("challenge", forever.into())]);
    let w = wallet(31337, &[]);
    let err = pay(&srv, &w, &JsValue::UNDEFINED, &JsValue::UNDEFINED)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "invalid_payment_requirements");
    assert!(
        get(&err, "message")
            .as_string()
            .unwrap()
            .contains("maxTimeoutSeconds 1000000000000 is above the limit 3600"),
        "{err:?}"
    );
    assert!(calls(&w).is_empty());
    // The bound is an option: 300 s (the test challenge) refused under a 60 s bound.
    let (_, h) = challenge(10_000);
    let srv = server(&[("challenge", h.into())]);
    let opts = obj(&[("maxTimeoutSeconds", 60.into())]);
    let err = pay(&srv, &wallet(31337, &[]), &opts, &JsValue::UNDEFINED)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "invalid_payment_requirements");
    for (key, bad) in [
        ("maxTimeoutSeconds", JsValue::from(0.0)),
        ("maxTimeoutSeconds", JsValue::from(1.5)),
        ("allowedAssets", allowed(78.0, None)),
        ("allowedAssets", allowed(-1.0, None)),
    ] {
        refused_as_invalid_config(key, bad);
    }
}
