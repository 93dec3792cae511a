// The reference offer-receipt implementation (@x402/extensions 2.27, `@x402/extensions/offer-receipt`,
// which hashes, signs and recovers EIP-712 with viem) for cross-checks: reads a JSON array of
// requests on stdin, answers a JSON array on stdout. Used by crates/core/tests/offer_receipt.rs.
// `kind` is "offer" or "receipt"; payloads and artifacts are the wire JSON.
//   {op: "hash", kind, payload}                          -> {hash}  hashOfferTypedData / hashReceiptTypedData
//   {op: "sign", kind, payload, privateKey, acceptIndex?} -> {artifact}  signOfferEIP712 / signReceiptEIP712
//   {op: "verify", kind, artifact}                       -> {signer, payload} | {error}
//        verifyOfferSignatureEIP712 / verifyReceiptSignatureEIP712
//   {op: "offers", privateKey, resourceUrl, requirements, offerValiditySeconds?} -> {extension}
//        the 402's extensions["offer-receipt"] from createOfferReceiptExtension(EIP-712 issuer)
//   {op: "receipt", privateKey, resourceUrl, result, includeTxHash} -> {extension}
//        the settlement response's extensions["offer-receipt"], from the same extension
//   {op: "matches", offer, accepts}                      -> {index}  findAcceptsObjectFromSignedOffer (-1: none)
//   {op: "jws", kind, payload, acceptIndex?}             -> {artifact}  a JWS artifact (createOfferJWS /
//        createReceiptJWS's shape) whose signature part is a placeholder: for payload reading only
import { privateKeyToAccount } from 'viem/accounts';
import {
  createEIP712OfferReceiptIssuer,
  createJWS,
  createOfferReceiptExtension,
  findAcceptsObjectFromSignedOffer,
  hashOfferTypedData,
  hashReceiptTypedData,
  signOfferEIP712,
  signReceiptEIP712,
  verifyOfferSignatureEIP712,
  verifyReceiptSignatureEIP712,
} from '@x402/extensions/offer-receipt';

const signTypedDataOf = (privateKey) => {
  const account = privateKeyToAccount(privateKey);
  return { account, signTypedData: (args) => account.signTypedData(args) };
};

async function answer(req) {
  const offer = req.kind === 'offer';
  switch (req.op) {
    case 'hash':
      return { hash: offer ? hashOfferTypedData(req.payload) : hashReceiptTypedData(req.payload) };
    case 'sign': {
      const { signTypedData } = signTypedDataOf(req.privateKey);
      if (offer) {
        const signature = await signOfferEIP712(req.payload, signTypedData);
        // createOfferEIP712's shape, with the payload given instead of one made at `now`.
        return { artifact: { format: 'eip712', acceptIndex: req.acceptIndex, payload: req.payload, signature } };
      }
      const signature = await signReceiptEIP712(req.payload, signTypedData);
      return { artifact: { format: 'eip712', payload: req.payload, signature } };
    }
    case 'verify': {
      const r = offer ? await verifyOfferSignatureEIP712(req.artifact) : await verifyReceiptSignatureEIP712(req.artifact);
      return { signer: r.signer, payload: r.payload };
    }
    case 'offers': {
      const { account, signTypedData } = signTypedDataOf(req.privateKey);
      const ext = createOfferReceiptExtension(createEIP712OfferReceiptIssuer(`did:pkh:eip155:1:${account.address}`, signTypedData));
      const declaration = req.offerValiditySeconds === undefined ? undefined : { offerValiditySeconds: req.offerValiditySeconds };
      const extension = await ext.enrichPaymentRequiredResponse(declaration, {
        paymentRequiredResponse: { x402Version: 2, resource: { url: req.resourceUrl }, accepts: req.requirements },
        requirements: req.requirements,
      });
      return { extension: extension ?? null };
    }
    case 'receipt': {
      const { account, signTypedData } = signTypedDataOf(req.privateKey);
      const ext = createOfferReceiptExtension(createEIP712OfferReceiptIssuer(`did:pkh:eip155:1:${account.address}`, signTypedData));
      const extension = await ext.enrichSettlementResponse(
        { includeTxHash: req.includeTxHash },
        { result: req.result, transportContext: { request: { adapter: { getUrl: () => req.resourceUrl } } } },
      );
      return { extension: extension ?? null };
    }
    case 'matches': {
      const found = findAcceptsObjectFromSignedOffer(req.offer, req.accepts);
      return { index: found === undefined ? -1 : req.accepts.indexOf(found) };
    }
    case 'jws': {
      const signer = { kid: 'did:web:api.example.com#key-1', algorithm: 'ES256K', format: 'jws', sign: async () => 'c2ln' };
      const signature = await createJWS(req.payload, signer);
      return { artifact: offer ? { format: 'jws', acceptIndex: req.acceptIndex, signature } : { format: 'jws', signature } };
    }
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const req of JSON.parse(input)) {
  try {
    out.push(await answer(req));
  } catch (e) {
    out.push({ error: String(e?.message ?? e) });
  }
}
process.stdout.write(JSON.stringify(out));
