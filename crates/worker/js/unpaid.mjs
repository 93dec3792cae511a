// What the JS entry (shim.mjs) passes to the module's `unpaidChallenge` for a request, after the
// Worker's env: the method, the URL, the headers' size in UTF-16 units (name + value + 4 each),
// whether a payment or sign-in header is present, and the pass header, cookies, Accept and
// User-Agent. Undefined for a method the fast path never answers. Its own module so that
// tests/js/worker-fast402.test.mjs calls the module exactly as the shim does.
export function unpaidArgs(request) {
  const { method, headers } = request;
  if (method !== "GET" && method !== "HEAD") return undefined;
  let chars = 0;
  for (const [name, value] of headers) chars += name.length + value.length + 4;
  return [
    method,
    request.url,
    chars,
    headers.has("payment-signature") || headers.has("x-payment") || headers.has("sign-in-with-x"),
    headers.get("x-payment-pass") ?? undefined,
    headers.get("cookie") ?? undefined,
    headers.get("accept") ?? undefined,
    headers.get("user-agent") ?? undefined,
  ];
}

/** The 402 from the parts `unpaidChallenge` returns (`[headers, body]`). */
export function unpaidResponse([headers, body]) {
  return new Response(body, { status: 402, headers });
}
