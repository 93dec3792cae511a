// viem as an independent EIP-1559 oracle for crates/core/tests/evm_tx_viem.rs: reads a JSON array of
// { raw, hash, fields } on stdin (a signed transaction made by x402-core), answers on stdout, per item,
// what viem parses from `raw`, the sender it recovers, viem's own serialization of the parsed fields
// (which must equal `raw` byte for byte) and keccak256(raw).
import { keccak256, parseTransaction, recoverTransactionAddress, serializeTransaction } from 'viem';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const { raw } of JSON.parse(input)) {
  const tx = parseTransaction(raw);
  const { r, s, yParity, ...unsigned } = tx;
  out.push({
    type: tx.type,
    chainId: tx.chainId,
    nonce: tx.nonce ?? 0,
    maxPriorityFeePerGas: String(tx.maxPriorityFeePerGas ?? 0n),
    maxFeePerGas: String(tx.maxFeePerGas ?? 0n),
    gas: String(tx.gas ?? 0n),
    to: tx.to,
    value: String(tx.value ?? 0n),
    data: tx.data ?? '0x',
    from: await recoverTransactionAddress({ serializedTransaction: raw }),
    reserialized: serializeTransaction(unsigned, { r, s, yParity }),
    hash: keccak256(raw),
  });
}
process.stdout.write(JSON.stringify(out));
