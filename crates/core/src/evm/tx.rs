//! The EVM calls a self-settling paywall makes (x402-foundation/x402
//! `specs/schemes/exact/scheme_exact_evm.md`, "Phase 3: Settlement Logic"; `docs/protocol.md`,
//! "Settlement"):
//! ABI calldata for EIP-3009 `transferWithAuthorization` (the `v, r, s` overload for EOA
//! signatures, the `bytes signature` overload for smart wallets), the read calls checked before
//! settling (`balanceOf`, `authorizationState`, ERC-1271 `isValidSignature`), and EIP-1559
//! (type 2) transactions: RLP encoding, signing hash and, with a local key, the signed raw
//! transaction and its hash.

use super::eip712::TransferWithAuthorization;
use super::signature::Signature;
use crate::error::{Error, Reason, Result};
use alloc::{format, vec::Vec};
use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::SolCall;

alloy_sol_types::sol! {
    /// EIP-3009, EOA form.
    function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s);
    /// EIP-3009, `bytes signature` form (EOA via ECRecover, contracts via ERC-1271).
    function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature);
    /// ERC-20 balance.
    function balanceOf(address account) returns (uint256);
    /// EIP-3009: whether `nonce` of `authorizer` is used or cancelled.
    function authorizationState(address authorizer, bytes32 nonce) returns (bool);
    /// ERC-1271.
    function isValidSignature(bytes32 hash, bytes signature) returns (bytes4);
}

/// The ERC-1271 magic value `isValidSignature` returns for a valid signature.
pub const ERC1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

/// Calldata of EIP-3009 `transferWithAuthorization` for a signed authorization: the `v, r, s`
/// overload when `signature` is a 65-byte EOA signature ([`Signature::from_bytes`] accepts it),
/// the `bytes signature` overload otherwise (smart wallets).
pub fn transfer_with_authorization_calldata(
    a: &TransferWithAuthorization,
    signature: &Bytes,
) -> Bytes {
    let data = match Signature::from_bytes(signature).ok() {
        Some(Signature { v, r, s }) => transferWithAuthorization_0Call {
            from: a.from,
            to: a.to,
            value: a.value,
            validAfter: a.validAfter,
            validBefore: a.validBefore,
            nonce: a.nonce,
            v,
            r,
            s,
        }
        .abi_encode(),
        None => transferWithAuthorization_1Call {
            from: a.from,
            to: a.to,
            value: a.value,
            validAfter: a.validAfter,
            validBefore: a.validBefore,
            nonce: a.nonce,
            signature: signature.clone(),
        }
        .abi_encode(),
    };
    data.into()
}

/// `balanceOf(account)` calldata.
pub fn balance_of_calldata(account: Address) -> Bytes {
    balanceOfCall { account }.abi_encode().into()
}

/// `authorizationState(authorizer, nonce)` calldata.
pub fn authorization_state_calldata(authorizer: Address, nonce: B256) -> Bytes {
    authorizationStateCall { authorizer, nonce }
        .abi_encode()
        .into()
}

/// `isValidSignature(hash, signature)` calldata.
pub fn is_valid_signature_calldata(hash: B256, signature: Bytes) -> Bytes {
    isValidSignatureCall { hash, signature }.abi_encode().into()
}

fn word(ret: &[u8], what: &str) -> Result<[u8; 32]> {
    ret.get(..32)
        .and_then(|w| <[u8; 32]>::try_from(w).ok())
        .ok_or_else(|| {
            Error::new(
                Reason::UnexpectedVerifyError,
                format!("{what}: the call returned {} bytes, expected 32", ret.len()),
            )
        })
}

/// Decodes a `uint256` return value.
pub fn decode_uint(ret: &[u8], what: &str) -> Result<U256> {
    Ok(U256::from_be_bytes(word(ret, what)?))
}

/// Decodes a `bool` return value.
pub fn decode_bool(ret: &[u8], what: &str) -> Result<bool> {
    decode_uint(ret, what).map(|v| !v.is_zero())
}

/// Whether an `isValidSignature` return value is the ERC-1271 magic value.
pub fn is_erc1271_magic(ret: &[u8]) -> bool {
    ret.len() >= 4 && ret[..4] == ERC1271_MAGIC
}

/// An EIP-1559 (type 2) transaction without access list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eip1559Tx {
    /// Chain id.
    pub chain_id: u64,
    /// Sender nonce.
    pub nonce: u64,
    /// Priority fee per gas (wei).
    pub max_priority_fee_per_gas: u128,
    /// Maximum fee per gas (wei).
    pub max_fee_per_gas: u128,
    /// Gas limit.
    pub gas_limit: u64,
    /// Callee.
    pub to: Address,
    /// Wei sent.
    pub value: U256,
    /// Calldata.
    pub data: Bytes,
}

fn rlp_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() == 1 && b[0] < 0x80 {
        out.push(b[0]);
    } else {
        rlp_len(out, b.len(), 0x80);
        out.extend_from_slice(b);
    }
}

fn rlp_len(out: &mut Vec<u8>, len: usize, offset: u8) {
    if len <= 55 {
        out.push(offset + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|&&x| x == 0).count();
        out.push(offset + 55 + (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

fn rlp_uint(out: &mut Vec<u8>, be: &[u8]) {
    let skip = be.iter().take_while(|&&x| x == 0).count();
    rlp_bytes(out, &be[skip..]);
}

fn rlp_list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    rlp_len(&mut out, payload.len(), 0xc0);
    out.extend_from_slice(payload);
    out
}

impl Eip1559Tx {
    fn fields(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(64 + self.data.len());
        rlp_uint(&mut p, &self.chain_id.to_be_bytes());
        rlp_uint(&mut p, &self.nonce.to_be_bytes());
        rlp_uint(&mut p, &self.max_priority_fee_per_gas.to_be_bytes());
        rlp_uint(&mut p, &self.max_fee_per_gas.to_be_bytes());
        rlp_uint(&mut p, &self.gas_limit.to_be_bytes());
        rlp_bytes(&mut p, self.to.as_slice());
        rlp_uint(&mut p, &self.value.to_be_bytes::<32>());
        rlp_bytes(&mut p, &self.data);
        p.push(0xc0); // empty access list
        p
    }

    /// The hash the sender signs: `keccak256(0x02 ‖ rlp([chainId, …, accessList]))`.
    pub fn signing_hash(&self) -> B256 {
        let mut out = alloc::vec![2u8];
        out.extend_from_slice(&rlp_list(&self.fields()));
        keccak256(out)
    }

    /// The raw signed transaction (`0x02 ‖ rlp([…, yParity, r, s])`) for
    /// `eth_sendRawTransaction`. `signature.v` is 27/28 (as [`Signature`]).
    pub fn encode_signed(&self, signature: &Signature) -> Bytes {
        let mut p = self.fields();
        rlp_uint(&mut p, &[signature.v.saturating_sub(27)]);
        rlp_uint(&mut p, signature.r.as_slice());
        rlp_uint(&mut p, signature.s.as_slice());
        let mut out = alloc::vec![2u8];
        out.extend_from_slice(&rlp_list(&p));
        out.into()
    }

    /// Signs with a local key; returns the raw transaction and its hash.
    #[cfg(feature = "local-signer")]
    pub fn sign(&self, signer: &super::signer::LocalSigner) -> Result<(Bytes, B256)> {
        let sig = signer.sign_hash(&self.signing_hash())?;
        let raw = self.encode_signed(&sig);
        let hash = keccak256(&raw);
        Ok((raw, hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, hex};

    #[test]
    fn rlp_lengths() {
        let mut o = Vec::new();
        rlp_bytes(&mut o, &[0x7f]);
        rlp_bytes(&mut o, &[0x80]);
        rlp_bytes(&mut o, &[]);
        rlp_uint(&mut o, &0u64.to_be_bytes());
        rlp_uint(&mut o, &1024u64.to_be_bytes());
        assert_eq!(o, [0x7f, 0x81, 0x80, 0x80, 0x80, 0x82, 0x04, 0x00]);
        let mut long = Vec::new();
        rlp_bytes(&mut long, &[1u8; 56]);
        assert_eq!(&long[..2], &[0xb8, 56]);
        assert_eq!(rlp_list(&[0u8; 56])[..2], [0xf8, 56]);
    }

    #[test]
    fn selectors() {
        let c = balance_of_calldata(Address::ZERO);
        assert_eq!(&c[..4], &hex!("70a08231"));
        let c = authorization_state_calldata(Address::ZERO, B256::ZERO);
        assert_eq!(&c[..4], &hex!("e94a0102"));
        assert_eq!(
            transferWithAuthorization_0Call::SELECTOR,
            hex!("e3ee160e"),
            "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
        );
        assert_eq!(
            transferWithAuthorization_1Call::SELECTOR,
            hex!("cf092995"),
            "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"
        );
        assert_eq!(isValidSignatureCall::SELECTOR, ERC1271_MAGIC);
        assert!(is_erc1271_magic(&hex!("1626ba7e00000000")));
        assert!(!is_erc1271_magic(&hex!("ffffffff")));
        let mut one = [0u8; 32];
        one[31] = 1;
        assert!(decode_bool(&one, "x").unwrap());
        assert!(decode_uint(&[0u8; 3], "x").is_err());
    }

    #[test]
    fn signing_hash_is_stable() {
        let tx = Eip1559Tx {
            chain_id: 31337,
            nonce: 7,
            max_priority_fee_per_gas: 1_000_000_000,
            max_fee_per_gas: 3_000_000_000,
            gas_limit: 150_000,
            to: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
            value: U256::ZERO,
            data: Bytes::from_static(&[0xde, 0xad]),
        };
        assert_ne!(tx.signing_hash(), B256::ZERO);
        let mut other = tx.clone();
        other.nonce = 8;
        assert_ne!(tx.signing_hash(), other.signing_hash());
    }
}
