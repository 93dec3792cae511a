// The reference Sign-In-With-X implementation (@x402/extensions 2.27, which builds the EIP-4361
// message with the siwe library, and viem) for cross-checks: reads a JSON array of requests on
// stdin, answers a JSON array on stdout. Used by crates/core/tests/siwx.rs.
//   {op: "sign", info, privateKey}   -> {message, header}  the reference client's sign-in
//   {op: "verify", header}           -> {valid, reason?, address?}  the reference server's checks
// `info` is a complete challenge plus the chainId: {domain, uri, version, nonce, issuedAt,
// chainId, statement?, expirationTime?, notBefore?, requestId?, resources?}.
import { privateKeyToAccount } from 'viem/accounts';
import { createSIWxPayload, encodeSIWxHeader, formatSIWEMessage, parseSIWxHeader, verifySIWxSignature } from '@x402/extensions';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const req of JSON.parse(input)) {
  try {
    if (req.op === 'sign') {
      const account = privateKeyToAccount(req.privateKey);
      const payload = await createSIWxPayload({ ...req.info, type: 'eip191' }, account, req.info.uri);
      out.push({ message: formatSIWEMessage(req.info, account.address), header: encodeSIWxHeader(payload) });
    } else if (req.op === 'verify') {
      const r = await verifySIWxSignature(parseSIWxHeader(req.header));
      out.push(r.isValid ? { valid: true, address: r.payer } : { valid: false, reason: r.invalidReason });
    } else {
      out.push({ error: `unknown op ${req.op}` });
    }
  } catch (e) {
    out.push({ error: String(e?.message ?? e) });
  }
}
process.stdout.write(JSON.stringify(out));
