// The object-store client (S3 REST, path-style, SigV4 signed in the browser): buckets,
// objects, multipart uploads, object URLs and presigned GET URLs. The store is
// another origin (the storage port); it answers this console's origin with CORS.

import { sha256Hex } from "./crypto.js";
import { EMPTY_SHA256, presign, signHeaders, uriEncode } from "./sigv4.js";

/** A refused or failed store request: the store's Code, Message and RequestId verbatim. */
export class S3Error extends Error {
  constructor(code, message, status, requestId, operation) {
    super(message);
    this.name = "S3Error";
    this.code = code;
    this.status = status || 0;
    this.requestId = requestId || "";
    this.operation = operation || "";
  }
}

const XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/";

function xmlEscape(s) {
  return String(s).replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]);
}

function parseXml(text) {
  // Not XML (an empty HEAD answer…): don't parse — Chrome's <parsererror> element
  // carries an inline style that the console's CSP refuses (and logs).
  if (!/^\s*</.test(text || "")) return null;
  const doc = new DOMParser().parseFromString(text, "application/xml");
  if (doc.getElementsByTagName("parsererror").length) return null;
  return doc;
}

function text(el, name) {
  const n = el.getElementsByTagName(name)[0];
  return n ? n.textContent : "";
}

/** Whether a key can be addressed from a browser: URLs drop "." and ".." segments. */
export function addressableKey(key) {
  return key.length > 0 && !key.split("/").some((s) => s === "." || s === "..");
}

/** The object store as one signed-in account sees it. */
export class S3 {
  /**
   * @param {{secretId: string, secretKey: string, region: string}} session
   * @param {string} base the store's origin, e.g. http://127.0.0.1:9001
   */
  constructor(session, base) {
    this.session = session;
    this.base = base.replace(/\/+$/, "");
    /** bucket → region, learnt from ListBuckets. */
    this.regions = new Map();
  }

  regionOf(bucket) {
    return this.regions.get(bucket) || this.session.region;
  }

  url(bucket, key) {
    let path = "/";
    if (bucket) path += uriEncode(bucket);
    if (key !== undefined && key !== null) path += "/" + uriEncode(key, true);
    return new URL(this.base + path);
  }

  /** The plain URL of an object (works for public-read objects). */
  objectUrl(bucket, key) {
    return this.url(bucket, key).href;
  }

  /** A presigned GET URL of an object, valid `expires` seconds. */
  presignGet(bucket, key, expires) {
    return presign({
      url: this.url(bucket, key),
      accessKey: this.session.secretId,
      secretKey: this.session.secretKey,
      region: this.regionOf(bucket),
      expires,
    });
  }

  async signed(method, bucket, key, { query = [], extra = {}, payloadHash = EMPTY_SHA256 } = {}) {
    const url = this.url(bucket, key);
    const headers = await signHeaders({
      method, url, query, extra, payloadHash,
      accessKey: this.session.secretId,
      secretKey: this.session.secretKey,
      region: bucket ? this.regionOf(bucket) : this.session.region,
    });
    if (query.length) {
      url.search = query.map(([k, v]) => (v === "" ? uriEncode(k) : `${uriEncode(k)}=${uriEncode(v)}`)).join("&");
    }
    return { url, headers };
  }

  async error(resp, operation) {
    const body = await resp.text().catch(() => "");
    const doc = parseXml(body);
    if (doc && doc.getElementsByTagName("Error").length) {
      const e = doc.getElementsByTagName("Error")[0];
      return new S3Error(text(e, "Code"), text(e, "Message"), resp.status, text(e, "RequestId") || resp.headers.get("x-amz-request-id"), operation);
    }
    return new S3Error(`HTTP${resp.status}`, body.slice(0, 500) || resp.statusText, resp.status, resp.headers.get("x-amz-request-id"), operation);
  }

  networkError(e, operation) {
    return new S3Error(
      "NetworkError",
      `The object store at ${this.base} could not be reached, or it refused this console's origin ${location.origin} (CORS): ${e.message}`,
      0, "", operation,
    );
  }

  async request(operation, method, bucket, key, opts = {}) {
    const payload = opts.body === undefined || opts.body === null ? "" : opts.body;
    const payloadHash = payload === "" ? EMPTY_SHA256 : await sha256Hex(payload);
    const { url, headers } = await this.signed(method, bucket, key, { ...opts, payloadHash });
    let resp;
    try {
      resp = await fetch(url, {
        method, headers, body: payload === "" ? undefined : payload, cache: "no-store", credentials: "omit", mode: "cors",
      });
    } catch (e) {
      throw this.networkError(e, operation);
    }
    if (!resp.ok) throw await this.error(resp, operation);
    return resp;
  }

  async xml(resp) {
    const doc = parseXml(await resp.text());
    if (!doc) throw new S3Error("InvalidResponse", "the store answered with malformed XML", resp.status);
    return doc;
  }

  /** ListBuckets: { owner: {id, name}, buckets: [{name, created, region}] }. */
  async listBuckets() {
    const doc = await this.xml(await this.request("ListBuckets", "GET", "", null));
    const owner = doc.getElementsByTagName("Owner")[0];
    const buckets = [...doc.getElementsByTagName("Bucket")].map((b) => ({
      name: text(b, "Name"),
      created: text(b, "CreationDate"),
      region: text(b, "BucketRegion"),
    }));
    for (const b of buckets) if (b.region) this.regions.set(b.name, b.region);
    return { owner: owner ? { id: text(owner, "ID"), name: text(owner, "DisplayName") } : null, buckets };
  }

  /** CreateBucket in `region`; public-read buckets serve their objects to anyone. */
  async createBucket(name, region, publicRead) {
    const body = `<CreateBucketConfiguration xmlns="${XMLNS}"><LocationConstraint>${xmlEscape(region)}</LocationConstraint></CreateBucketConfiguration>`;
    const extra = publicRead ? { "x-amz-acl": "public-read" } : {};
    this.regions.set(name, region);
    await this.request("CreateBucket", "PUT", name, null, { body, extra });
  }

  /** ListObjectsV2 (one page): { objects, truncated, next }. */
  async listObjects(bucket, { prefix = "", token = "", maxKeys = 1000 } = {}) {
    const query = [["list-type", "2"], ["max-keys", String(maxKeys)]];
    if (prefix) query.push(["prefix", prefix]);
    if (token) query.push(["continuation-token", token]);
    const doc = await this.xml(await this.request("ListObjectsV2", "GET", bucket, null, { query }));
    const objects = [...doc.getElementsByTagName("Contents")].map((c) => ({
      key: text(c, "Key"),
      size: Number(text(c, "Size")),
      etag: text(c, "ETag").replace(/"/g, ""),
      lastModified: text(c, "LastModified"),
    }));
    return {
      objects,
      truncated: text(doc, "IsTruncated") === "true",
      next: text(doc, "NextContinuationToken"),
    };
  }

  /** HeadObject: { size, etag, lastModified } or null when absent. */
  async headObject(bucket, key) {
    try {
      const r = await this.request("HeadObject", "HEAD", bucket, key);
      return {
        size: Number(r.headers.get("content-length")),
        etag: (r.headers.get("etag") || "").replace(/"/g, ""),
        lastModified: r.headers.get("last-modified") || "",
      };
    } catch (e) {
      if (e instanceof S3Error && e.status === 404) return null;
      throw e;
    }
  }

  async deleteObject(bucket, key) {
    await this.request("DeleteObject", "DELETE", bucket, key);
  }

  /** CreateMultipartUpload → UploadId. */
  async createMultipart(bucket, key, { publicRead = false } = {}) {
    const extra = publicRead ? { "x-amz-acl": "public-read" } : {};
    const doc = await this.xml(await this.request("CreateMultipartUpload", "POST", bucket, key, { query: [["uploads", ""]], extra }));
    const id = text(doc, "UploadId");
    if (!id) throw new S3Error("InvalidResponse", "CreateMultipartUpload returned no UploadId", 200);
    return id;
  }

  /** ListParts (every page): [{partNumber, etag, size}]. */
  async listParts(bucket, key, uploadId) {
    const parts = [];
    let marker = "";
    for (let page = 0; page < 20; page++) {
      const query = [["uploadId", uploadId]];
      if (marker) query.push(["part-number-marker", marker]);
      const doc = await this.xml(await this.request("ListParts", "GET", bucket, key, { query }));
      for (const p of doc.getElementsByTagName("Part")) {
        parts.push({ partNumber: Number(text(p, "PartNumber")), etag: text(p, "ETag").replace(/"/g, ""), size: Number(text(p, "Size")) });
      }
      const next = text(doc, "NextPartNumberMarker");
      if (text(doc, "IsTruncated") !== "true" || !next || next === marker) break;
      marker = next;
    }
    return parts;
  }

  /**
   * UploadPart with upload progress (XMLHttpRequest: fetch reports none). `blob` is
   * the part (a slice of the File): it is read once to sign its SHA-256 (the store
   * checks it), and sent as the Blob itself — browsers stream a File slice straight
   * from disk, tens of times faster than an ArrayBuffer body. Resolves to the ETag.
   */
  async uploadPart(bucket, key, uploadId, partNumber, blob, { onProgress, signal } = {}) {
    let bytes;
    try {
      bytes = await blob.arrayBuffer();
    } catch (e) {
      throw new S3Error("FileNotReadable", `The file could not be read (was it changed or moved?): ${e.message}`, 0, "", "UploadPart");
    }
    const payloadHash = await sha256Hex(bytes);
    bytes = null;
    const query = [["partNumber", String(partNumber)], ["uploadId", uploadId]];
    const { url, headers } = await this.signed("PUT", bucket, key, { query, payloadHash });
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url.href);
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      if (onProgress) xhr.upload.onprogress = (ev) => onProgress(ev.loaded);
      const abort = () => xhr.abort();
      if (signal) {
        if (signal.aborted) return reject(new DOMException("aborted", "AbortError"));
        signal.addEventListener("abort", abort, { once: true });
      }
      const done = () => signal && signal.removeEventListener("abort", abort);
      xhr.onload = () => {
        done();
        if (xhr.status >= 200 && xhr.status < 300) {
          const etag = (xhr.getResponseHeader("ETag") || "").replace(/"/g, "");
          if (!etag) reject(new S3Error("MissingETag", "the store sent no ETag for the part (is ETag exposed by CORS?)", xhr.status, "", "UploadPart"));
          else resolve(etag);
          return;
        }
        const doc = parseXml(xhr.responseText || "");
        const e = doc && doc.getElementsByTagName("Error")[0];
        reject(e
          ? new S3Error(text(e, "Code"), text(e, "Message"), xhr.status, text(e, "RequestId"), "UploadPart")
          : new S3Error(`HTTP${xhr.status}`, (xhr.responseText || xhr.statusText).slice(0, 500), xhr.status, "", "UploadPart"));
      };
      xhr.onerror = () => { done(); reject(this.networkError(new Error("the part upload failed"), "UploadPart")); };
      xhr.onabort = () => { done(); reject(new DOMException("aborted", "AbortError")); };
      xhr.send(blob);
    });
  }

  /** CompleteMultipartUpload with `parts` ([{partNumber, etag}], ascending). */
  async completeMultipart(bucket, key, uploadId, parts) {
    const body = `<CompleteMultipartUpload xmlns="${XMLNS}">` +
      parts.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>"${xmlEscape(p.etag)}"</ETag></Part>`).join("") +
      "</CompleteMultipartUpload>";
    const resp = await this.request("CompleteMultipartUpload", "POST", bucket, key, { query: [["uploadId", uploadId]], body });
    // S3 may answer 200 with an <Error> body.
    const doc = await this.xml(resp);
    const err = doc.getElementsByTagName("Error")[0];
    if (err) throw new S3Error(text(err, "Code"), text(err, "Message"), 200, text(err, "RequestId"), "CompleteMultipartUpload");
    return text(doc, "ETag").replace(/"/g, "");
  }

  async abortMultipart(bucket, key, uploadId) {
    await this.request("AbortMultipartUpload", "DELETE", bucket, key, { query: [["uploadId", uploadId]] });
  }
}
