// TC3-HMAC-SHA256, the Tencent Cloud API 3.0 signature, computed in the browser —
// the same signed `POST /` that tccli and the SDKs send:
//
//   CanonicalRequest = POST \n / \n \n CanonicalHeaders \n SignedHeaders \n hex(sha256(payload))
//   StringToSign     = TC3-HMAC-SHA256 \n Timestamp \n Date/service/tc3_request \n hex(sha256(CanonicalRequest))
//   Signature        = hex(HMAC(HMAC(HMAC(HMAC("TC3"+SecretKey, Date), service), "tc3_request"), StringToSign))
//
// Canonical headers are `name:value\n` with lower-cased names and values. The console
// signs content-type, host and x-tc-action, so a signature is bound to its action.

import { hex, hmac, sha256Hex } from "./crypto.js";

export const ALGORITHM = "TC3-HMAC-SHA256";

/** The UTC date (YYYY-MM-DD) of a Unix time in seconds. */
export function utcDate(timestamp) {
  return new Date(timestamp * 1000).toISOString().slice(0, 10);
}

/**
 * Sign one API request. `headers` maps lower-case names to values and must hold
 * every name of `signedHeaders`. Returns { authorization, canonicalRequest, stringToSign }.
 */
export async function sign({ secretId, secretKey, service, timestamp, headers, signedHeaders, payload }) {
  const names = signedHeaders.map((n) => n.toLowerCase());
  let canonHeaders = "";
  for (const n of names) {
    const v = headers[n];
    if (v === undefined) throw new Error(`signed header ${n} is missing`);
    canonHeaders += `${n}:${String(v).trim().toLowerCase()}\n`;
  }
  const signed = names.join(";");
  const canonicalRequest = `POST\n/\n\n${canonHeaders}\n${signed}\n${await sha256Hex(payload)}`;
  const date = utcDate(timestamp);
  const scope = `${date}/${service}/tc3_request`;
  const stringToSign = `${ALGORITHM}\n${timestamp}\n${scope}\n${await sha256Hex(canonicalRequest)}`;
  const kDate = await hmac("TC3" + secretKey, date);
  const kService = await hmac(kDate, service);
  const kSigning = await hmac(kService, "tc3_request");
  const signature = hex(await hmac(kSigning, stringToSign));
  const authorization = `${ALGORITHM} Credential=${secretId}/${scope}, SignedHeaders=${signed}, Signature=${signature}`;
  return { authorization, canonicalRequest, stringToSign, signature };
}
