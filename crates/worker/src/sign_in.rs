//! Sign-In-With-X (x402 `specs/extensions/sign-in-with-x.md`): a reader who bought a resource
//! before gets it again on another device, or after clearing cookies, by signing a message with
//! the wallet that paid (no payment, no transfer). The 402 of a route that hands out passes
//! offers a challenge (`extensions["sign-in-with-x"]`) naming the configured public origin,
//! never the request's `Host`; a request carrying `SIGN-IN-WITH-X` is checked
//! (`x402_core::wire::siwx::check`: domain, uri, times, EIP-191 signature; a contract wallet's
//! through EIP-1271 on chain), its nonce must be one
//! this Worker issued (`x402_core::gate::pass::sign_in_nonce`: a salt and an HMAC of the salt,
//! its issuedAt and uri with the pass secret, so nothing is stored when a challenge is offered)
//! and not accepted
//! before, and the signer's replay guard must hold a purchase of the resource (recorded with
//! its settlement, kept `restoreDays`). Then the content is served with a new pass.

use crate::durable::call::{durable_call, GUARD_BINDING};
use crate::durable::{GuardOp, SignInAnswer};
use crate::{App, Ctx};
use serde_json::Value;
use worker::Env;
use x402_core::gate::config::Route;
use x402_core::wire::siwx::{self, Challenge, Expected, SignedBy};
use x402_core::{Address, Error, Reason, B256};

/// Whether this route offers Sign-In-With-X here: configured, and passes can be signed.
pub(crate) fn offered(app: &App, route: &Route) -> bool {
    app.config.sign_in_with_x(route) && !app.pass_secrets.is_empty()
}

/// The resource's URI on the configured public origin (path and query as the gate judges
/// them).
fn resource_uri(origin: &str, ctx: &Ctx) -> String {
    format!("{origin}{}", ctx.target())
}

/// The `sign-in-with-x` declaration for this route's 402, with a fresh nonce; `None` where it
/// is not offered.
pub(crate) fn offer(app: &App, ctx: &Ctx, route: &Route) -> Option<Value> {
    if !offered(app, route) {
        return None;
    }
    let origin = app.config.public_origin.as_deref()?;
    let domain = origin.split_once("://")?.1;
    let uri = resource_uri(origin, ctx);
    let issued_ms = worker::Date::now().as_millis();
    // The salt only makes two challenges of one millisecond differ; what proves a nonce is
    // this Worker's is its HMAC.
    let salt = (worker::js_sys::Math::random() * 18_446_744_073_709_551_616.0) as u64;
    let nonce = x402_core::gate::pass::sign_in_nonce(
        app.pass_secrets.first()?,
        issued_ms,
        &uri,
        salt.to_be_bytes(),
    )
    .ok()?;
    let mut chains: Vec<String> = route
        .options
        .iter()
        .filter(|o| o.network.namespace() == "eip155")
        .map(|o| o.network.as_str().to_string())
        .collect();
    chains.dedup();
    Some(siwx::declaration(&Challenge {
        domain,
        uri: &uri,
        nonce: &nonce,
        issued_at_ms: issued_ms,
        chains: &chains,
        statement: Some("Restore your purchase: sign in with the wallet that paid. No payment."),
    }))
}

/// Judges a `SIGN-IN-WITH-X` header for this request: `Ok(Some((signer, transaction)))` when
/// the signer bought the resource (the nonce is spent), `Ok(None)` when the sign-in is valid but
/// the signer did not buy it (the ordinary 402 follows), an error with its reason otherwise.
pub(crate) async fn restore(
    app: &App,
    ctx: &Ctx,
    route: &Route,
    header: &str,
    env: &Env,
) -> Result<Option<(Address, B256)>, Error> {
    let Some(origin) = app.config.public_origin.as_deref() else {
        return Ok(None);
    };
    let host = origin.split_once("://").map_or(origin, |(_, h)| h);
    let sign_in = siwx::decode(header)?;
    let now_ms = worker::Date::now().as_millis();
    let signed = siwx::check(
        &sign_in,
        &Expected {
            host,
            origin,
            now_ms,
        },
    )?;
    let uri = resource_uri(origin, ctx);
    if sign_in.uri != uri {
        return Err(Error::new(
            Reason::InvalidSiwxUriMismatch,
            format!("the sign-in is for {:?}, not this resource", sign_in.uri),
        ));
    }
    let issued_ms = siwx::timestamp_ms(&sign_in.issued_at).unwrap_or(0);
    if !x402_core::gate::pass::sign_in_nonce_valid(
        &app.pass_secrets,
        issued_ms,
        &uri,
        &sign_in.nonce,
    ) {
        return Err(Error::new(
            Reason::InvalidSiwxNonce,
            "the nonce is not one this site issued for this resource at that time",
        ));
    }
    // Only now, with the nonce known to be this site's, is the chain asked about a contract
    // wallet's signature.
    let signer = signer(app, route, signed).await?;
    let resource = ctx.resource();
    // Kept until the sign-in could no longer pass the time checks anyway.
    let nonce_until = (issued_ms + siwx::MAX_AGE_MS) / 1000 + 60;
    let mut guards: Vec<String> = route
        .options
        .iter()
        .filter_map(|o| {
            o.network
                .chain_id()
                .map(|c| x402_core::gate::replay::payer_key(c, o.asset, signer))
        })
        .collect();
    guards.dedup();
    for guard in guards {
        let op = GuardOp::SignIn {
            resource: resource.clone(),
            nonce: sign_in.nonce.clone(),
            nonce_until,
        };
        let answer: SignInAnswer = durable_call(env, GUARD_BINDING, &guard, &op).await?;
        if answer.replayed {
            return Err(Error::new(
                Reason::InvalidSiwxNonce,
                "this sign-in was used already; sign in again",
            ));
        }
        if answer.restored {
            let tx = answer
                .transaction
                .and_then(|t| t.parse::<B256>().ok())
                .unwrap_or(B256::ZERO);
            return Ok(Some((signer, tx)));
        }
    }
    Ok(None)
}

/// The signer of a sign-in: the key's, or a contract wallet's whose `isValidSignature` (EIP-1271)
/// accepts it on the sign-in's chain, which must be one this route is paid on (its wallets
/// bought there) and is asked through `settlement.rpcUrl`. An EIP-6492 wrapped signature is
/// judged unwrapped by the deployed wallet; a wallet with no code cannot have paid here.
async fn signer(app: &App, route: &Route, signed: SignedBy) -> Result<Address, Error> {
    let SignedBy::Contract(c) = &signed else {
        return signed.key_only();
    };
    let not_by = |why: &str| {
        Error::new(
            Reason::InvalidSiwxSignature,
            format!(
                "the signature is not by {}'s key, and {why}",
                c.wallet.to_checksum(None)
            ),
        )
    };
    if !route
        .options
        .iter()
        .any(|o| o.network.chain_id() == Some(c.chain_id))
    {
        return Err(not_by(&format!(
            "a contract wallet is checked only on a chain this resource is paid on, not {}",
            c.chain_id
        )));
    }
    let Some(url) = app.config.settlement.rpc_url() else {
        return Err(not_by(
            "checking a contract wallet's signature needs settlement.rpcUrl",
        ));
    };
    let signature = c.signature_for_deployed_wallet()?;
    match crate::chain::erc1271_accepts(url, c.wallet, c.digest, signature.into()).await? {
        Some(valid) => signed.confirmed(valid),
        None => Err(not_by("no contract wallet is deployed there")),
    }
}
