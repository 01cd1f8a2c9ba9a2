// SHA-256 and HMAC-SHA256 for request signing (TC3-HMAC-SHA256 for the cloud API,
// AWS Signature V4 for the object store).
//
// WebCrypto (crypto.subtle) is used whenever the page is a secure context — https, or
// http on localhost / 127.0.0.1 / [::1]. Browsers hide crypto.subtle on plain http
// elsewhere (a console opened as http://10.0.0.5:9000/console/), so this module also
// carries a small SHA-256 (FIPS 180-4) and HMAC (RFC 2104) used only then. The
// browser tests check both against each other and against the published vectors.

const encoder = new TextEncoder();

/** WebCrypto, when the browser offers it here. */
export const subtle = globalThis.crypto && globalThis.crypto.subtle ? globalThis.crypto.subtle : null;

/** Which implementation signs requests ("WebCrypto" or "built-in"). */
export const implementation = subtle ? "WebCrypto" : "built-in";

/** Bytes of a string (UTF-8), ArrayBuffer or typed array. */
export function bytes(data) {
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError("expected a string or bytes");
}

/** Lower-case hexadecimal of bytes. */
export function hex(data) {
  const b = bytes(data);
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s;
}

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** SHA-256 of `data` without WebCrypto (synchronous). */
export function sha256Sync(data) {
  const msg = bytes(data);
  const H = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const W = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  const block = (p, off) => {
    for (let i = 0; i < 16; i++) {
      const j = off + 4 * i;
      W[i] = (p[j] << 24) | (p[j + 1] << 16) | (p[j + 2] << 8) | p[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const a = W[i - 15], b = W[i - 2];
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
    }
    let a = H[0] | 0, b = H[1] | 0, c = H[2] | 0, d = H[3] | 0;
    let e = H[4] | 0, f = H[5] | 0, g = H[6] | 0, h = H[7] | 0;
    for (let i = 0; i < 64; i++) {
      const S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K[i] + W[i]) | 0;
      const S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d;
    H[4] += e; H[5] += f; H[6] += g; H[7] += h;
  };
  const len = msg.length;
  const full = len - (len % 64);
  for (let off = 0; off < full; off += 64) block(msg, off);
  const rest = len - full;
  const tail = new Uint8Array(rest < 56 ? 64 : 128);
  tail.set(msg.subarray(full));
  tail[rest] = 0x80;
  const bits = len * 8;
  const dv = new DataView(tail.buffer);
  dv.setUint32(tail.length - 8, Math.floor(bits / 0x100000000));
  dv.setUint32(tail.length - 4, bits >>> 0);
  for (let off = 0; off < tail.length; off += 64) block(tail, off);
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) ov.setUint32(4 * i, H[i]);
  return out;
}

/** HMAC-SHA256 without WebCrypto (synchronous). */
export function hmacSync(key, data) {
  let k = bytes(key);
  if (k.length > 64) k = sha256Sync(k);
  const inner = new Uint8Array(64);
  const outer = new Uint8Array(64);
  inner.set(k);
  outer.set(k);
  for (let i = 0; i < 64; i++) {
    inner[i] ^= 0x36;
    outer[i] ^= 0x5c;
  }
  const m = bytes(data);
  const im = new Uint8Array(64 + m.length);
  im.set(inner);
  im.set(m, 64);
  const ih = sha256Sync(im);
  const om = new Uint8Array(96);
  om.set(outer);
  om.set(ih, 64);
  return sha256Sync(om);
}

/** SHA-256 of `data` (bytes). */
export async function sha256(data) {
  const b = bytes(data);
  if (subtle) return new Uint8Array(await subtle.digest("SHA-256", b));
  return sha256Sync(b);
}

/** Hexadecimal SHA-256 of `data`. */
export async function sha256Hex(data) {
  return hex(await sha256(data));
}

/** HMAC-SHA256 of `data` with `key` (bytes). */
export async function hmac(key, data) {
  if (subtle) {
    const k = await subtle.importKey("raw", bytes(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await subtle.sign("HMAC", k, bytes(data)));
  }
  return hmacSync(key, data);
}
