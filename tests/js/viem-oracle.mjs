// An independent EIP-712 implementation for cross-checks: reads a JSON array of requests on
// stdin, answers a JSON array on stdout. Used by crates/core/tests/viem.rs.
//   {op: "sign", privateKey, typedData}          -> {signature}
//   {op: "recover", typedData, signature}        -> {address}
//   {op: "verify", address, typedData, signature} -> {valid}
// typedData is the eth_signTypedData_v4 JSON that x402-core builds. Like a wallet, the oracle
// parses it: integer fields arrive as decimal strings and become BigInts.
import { privateKeyToAccount } from "viem/accounts";
import { recoverTypedDataAddress, verifyTypedData } from "viem";

function forViem(typedData) {
  const { types, primaryType, domain, message } = typedData;
  const { EIP712Domain, ...structTypes } = types;
  const parsed = {};
  for (const { name, type } of structTypes[primaryType]) {
    parsed[name] = /^u?int\d*$/.test(type) ? BigInt(message[name]) : message[name];
  }
  // The domain fields must be exactly those EIP712Domain declares.
  const declared = EIP712Domain.map((f) => f.name).sort().join(",");
  if (declared !== Object.keys(domain).sort().join(",")) {
    throw new Error(`EIP712Domain declares ${declared}, domain has ${Object.keys(domain)}`);
  }
  return { domain, types: structTypes, primaryType, message: parsed };
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const req of JSON.parse(input)) {
  const td = forViem(req.typedData);
  if (req.op === "sign") {
    out.push({ signature: await privateKeyToAccount(req.privateKey).signTypedData(td) });
  } else if (req.op === "recover") {
    out.push({ address: await recoverTypedDataAddress({ ...td, signature: req.signature }) });
  } else if (req.op === "verify") {
    out.push({ valid: await verifyTypedData({ ...td, address: req.address, signature: req.signature }) });
  } else {
    throw new Error(`unknown op ${req.op}`);
  }
}
process.stdout.write(JSON.stringify(out));
