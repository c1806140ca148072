// AWS Signature Version 4 in the browser (WebCrypto HMAC-SHA256), as botocore signs:
// the page signs each call with the key the user signed in with.
const enc = new TextEncoder();

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function canSign() {
  return Boolean(globalThis.crypto && crypto.subtle);
}

export async function sha256Hex(data) {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

async function hmac(key, message) {
  const raw = typeof key === "string" ? enc.encode(key) : key;
  const k = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", k, enc.encode(message));
}

// RFC 3986 encoding, as SigV4 wants it.
export function uriEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

export function canonicalQuery(params) {
  return Object.entries(params)
    .map(([k, v]) => [uriEncode(k), uriEncode(String(v))])
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

export function amzDate(now) {
  return now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

// Headers to send with a request to `path` (no dot segments) with `query` (an object) and
// `body` (a Uint8Array or string); `headers` are signed too (lower-case names).
export async function sign({ method, host, path, query, headers, body, service, region, accessKey, secret, now }) {
  const time = amzDate(now || new Date());
  const day = time.slice(0, 8);
  const payload = await sha256Hex(body || "");
  const all = { ...headers, host, "x-amz-date": time, "x-amz-content-sha256": payload };
  const names = Object.keys(all).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), String(v).trim()]));
  const canonicalHeaders = names.map((n) => `${n}:${lower[n]}\n`).join("");
  const signedHeaders = names.join(";");
  const canonicalPath = path.split("/").map((seg) => uriEncode(uriEncode(decodeURIComponent(seg)))).join("/");
  const request = [method, canonicalPath, canonicalQuery(query || {}), canonicalHeaders, signedHeaders, payload].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", time, scope, await sha256Hex(request)].join("\n");
  let key = await hmac("AWS4" + secret, day);
  key = await hmac(key, region);
  key = await hmac(key, service);
  key = await hmac(key, "aws4_request");
  const signature = hex(await hmac(key, toSign));
  const out = { ...headers, "x-amz-date": time, "x-amz-content-sha256": payload };
  out.authorization = `AWS4-HMAC-SHA256 Credential=${accessKey}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return out;
}
