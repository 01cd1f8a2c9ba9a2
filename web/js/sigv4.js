// AWS Signature Version 4 for the object store, computed in the browser: header
// signatures (Authorization: AWS4-HMAC-SHA256 …) for every request the console sends,
// and query presigning (X-Amz-Signature) for the signed GET URLs an import uses.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html

import { bytes, hex, hmac, sha256Hex } from "./crypto.js";

export const ALGORITHM = "AWS4-HMAC-SHA256";
export const UNSIGNED = "UNSIGNED-PAYLOAD";
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** RFC 3986 encoding of a string's UTF-8 bytes, as SigV4 wants it ("/" kept when asked). */
export function uriEncode(s, keepSlash = false) {
  const b = bytes(String(s));
  let out = "";
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    const unreserved =
      (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) ||
      c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
    if (unreserved || (keepSlash && c === 0x2f)) out += String.fromCharCode(c);
    else out += "%" + (c < 16 ? "0" : "") + c.toString(16).toUpperCase();
  }
  return out;
}

/** `YYYYMMDDTHHMMSSZ` of a Date. */
export function amzDate(d) {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/** The canonical query string of [name, value] pairs (raw, not encoded). */
export function canonicalQuery(params) {
  const enc = params.map(([k, v]) => [uriEncode(k), uriEncode(v)]);
  enc.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return enc.map(([k, v]) => `${k}=${v}`).join("&");
}

async function signingKey(secret, date, region, service) {
  const kDate = await hmac("AWS4" + secret, date);
  const kRegion = await hmac(kDate, region);
  const kService = await hmac(kRegion, service);
  return hmac(kService, "aws4_request");
}

/**
 * The signature of a request. `path` is the encoded path as sent, `query` raw
 * [name, value] pairs, `headers` lower-case name → value of the signed headers.
 */
export async function signature({ method, path, query, headers, payloadHash, secretKey, date, region, service = "s3" }) {
  const names = Object.keys(headers).map((n) => n.toLowerCase()).sort();
  const lower = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  const canonHeaders = names.map((n) => `${n}:${String(lower[n]).trim().split(/\s+/).join(" ")}\n`).join("");
  const canonicalRequest = [method, path || "/", canonicalQuery(query), canonHeaders, names.join(";"), payloadHash].join("\n");
  const day = date.slice(0, 8);
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = `${ALGORITHM}\n${date}\n${scope}\n${await sha256Hex(canonicalRequest)}`;
  const key = await signingKey(secretKey, day, region, service);
  return { signature: hex(await hmac(key, stringToSign)), scope, signedHeaders: names.join(";"), canonicalRequest, stringToSign };
}

/**
 * Headers for a signed request to `url` (a URL object whose pathname is already
 * encoded with uriEncode(…, true)). `extra` are more headers to sign and send
 * (x-amz-acl, content-type …). Host is signed but sent by the browser itself.
 */
export async function signHeaders({ method, url, query, extra = {}, payloadHash, accessKey, secretKey, region, now = new Date() }) {
  const date = amzDate(now);
  const signed = { host: url.host, "x-amz-date": date, "x-amz-content-sha256": payloadHash, ...extra };
  const { signature: sig, scope, signedHeaders } = await signature({
    method, path: url.pathname, query, headers: signed, payloadHash, secretKey, date, region,
  });
  const send = { ...signed };
  delete send.host;
  send.authorization = `${ALGORITHM} Credential=${accessKey}/${scope}, SignedHeaders=${signedHeaders}, Signature=${sig}`;
  return send;
}

/** A presigned GET URL for `url` valid `expires` seconds (1 … 604800). */
export async function presign({ url, accessKey, secretKey, region, expires, now = new Date(), method = "GET" }) {
  const date = amzDate(now);
  const day = date.slice(0, 8);
  const query = [
    ["X-Amz-Algorithm", ALGORITHM],
    ["X-Amz-Credential", `${accessKey}/${day}/${region}/s3/aws4_request`],
    ["X-Amz-Date", date],
    ["X-Amz-Expires", String(expires)],
    ["X-Amz-SignedHeaders", "host"],
  ];
  const { signature: sig } = await signature({
    method, path: url.pathname, query, headers: { host: url.host }, payloadHash: UNSIGNED, secretKey, date, region,
  });
  return `${url.origin}${url.pathname}?${canonicalQuery(query)}&X-Amz-Signature=${sig}`;
}
