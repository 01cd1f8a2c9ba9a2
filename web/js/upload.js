// Resumable multipart upload of a (multi-GB) file from the browser (R-FLOW-UPLOAD):
// the file is cut into parts (8 MiB, or larger so that at most 10 000 parts are
// needed), a few parts are PUT in parallel, each SigV4-signed with its SHA-256 (the
// store verifies it), and the upload is completed once every part is in.
//
// Resuming: the UploadId, destination and part size are remembered in localStorage,
// keyed by the account and the file's name + size + modification time. When the same
// file is chosen again after a reload, ListParts says which parts the store already
// holds (with their sizes), only the others are sent, and the final part list comes
// from ListParts too.

import { S3Error } from "./s3.js";

export const MIN_PART_SIZE = 8 * 1024 * 1024;
export const MAX_PARTS = 10000;
export const CONCURRENCY = 4;
/** Attempts per part for network errors and 5xx answers. */
const ATTEMPTS = 4;
const PREFIX = "imgport.upload.";
/** Most remembered uploads shown (localStorage is the browser's, keep it small). */
const MAX_REMEMBERED = 50;

/** The part size for a file of `size` bytes. */
export function partSizeFor(size) {
  let p = MIN_PART_SIZE;
  while (Math.ceil(size / p) > MAX_PARTS) p *= 2;
  return p;
}

/** name|size|mtime of a File. */
export function fingerprint(file) {
  return `${file.name}|${file.size}|${file.lastModified}`;
}

function storageKey(secretId, fp) {
  return `${PREFIX}${secretId}|${fp}`;
}

function read(k) {
  try {
    const r = JSON.parse(localStorage.getItem(k) || "null");
    return r && r.v === 1 && typeof r.uploadId === "string" ? r : null;
  } catch {
    return null;
  }
}

/** The interrupted upload of `file` by this account, if one is remembered. */
export function pendingFor(secretId, file) {
  return read(storageKey(secretId, fingerprint(file)));
}

/** Every remembered upload of this account. */
export function allPending(secretId) {
  const out = [];
  for (let i = 0; i < localStorage.length && out.length < MAX_REMEMBERED; i++) {
    const k = localStorage.key(i);
    if (k && k.startsWith(`${PREFIX}${secretId}|`)) {
      const r = read(k);
      if (r) out.push(r);
    }
  }
  return out.sort((a, b) => a.started - b.started);
}

export function forget(secretId, record) {
  localStorage.removeItem(storageKey(secretId, record.fingerprint));
}

function remember(secretId, record) {
  localStorage.setItem(storageKey(secretId, record.fingerprint), JSON.stringify(record));
}

function retryable(e) {
  if (e instanceof S3Error) return e.code === "NetworkError" || e.status >= 500 || e.code === "RequestTimeout";
  return false;
}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  if (signal) signal.addEventListener("abort", () => { clearTimeout(t); reject(new DOMException("aborted", "AbortError")); }, { once: true });
});

/**
 * One upload. `onProgress(state)` receives {phase, loaded, total, partsDone,
 * partsTotal, resumedParts, rate (bytes/s), eta (s)}; phases: starting, uploading,
 * completing, done, paused, failed.
 */
export class Upload {
  constructor({ s3, secretId, file, bucket, key, publicRead = false, onProgress = () => {}, concurrency = CONCURRENCY }) {
    this.s3 = s3;
    this.secretId = secretId;
    this.file = file;
    this.bucket = bucket;
    this.key = key;
    this.publicRead = publicRead;
    this.onProgress = onProgress;
    this.concurrency = concurrency;
    this.controller = new AbortController();
    this.state = { phase: "starting", loaded: 0, total: file.size, partsDone: 0, partsTotal: 0, resumedParts: 0, rate: 0, eta: null };
  }

  emit(patch) {
    Object.assign(this.state, patch);
    this.onProgress({ ...this.state });
  }

  /** Start, or continue `record` (from pendingFor). Resolves to the object's ETag. */
  async run(record = null) {
    const file = this.file;
    let partSize;
    let have = new Map(); // part number → {etag, size}
    if (record) {
      this.bucket = record.bucket;
      this.key = record.key;
      this.uploadId = record.uploadId;
      partSize = record.partSize;
      this.record = record;
      try {
        for (const p of await this.s3.listParts(this.bucket, this.key, this.uploadId)) have.set(p.partNumber, p);
      } catch (e) {
        if (e instanceof S3Error && e.code === "NoSuchUpload") {
          forget(this.secretId, record);
          this.record = null;
          this.resumeLost = true;
        } else {
          throw e;
        }
      }
    }
    if (!this.record) {
      partSize = partSizeFor(file.size);
      have = new Map();
      this.uploadId = await this.s3.createMultipart(this.bucket, this.key, { publicRead: this.publicRead });
      this.record = {
        v: 1, fingerprint: fingerprint(file), name: file.name, size: file.size, lastModified: file.lastModified,
        bucket: this.bucket, key: this.key, uploadId: this.uploadId, partSize, publicRead: this.publicRead, started: Date.now(),
      };
      remember(this.secretId, this.record);
    }
    const count = Math.max(1, Math.ceil(file.size / partSize));
    const lengthOf = (n) => Math.min(partSize, file.size - (n - 1) * partSize);
    const etags = new Map();
    let loadedDone = 0;
    for (const [n, p] of have) {
      if (n >= 1 && n <= count && p.size === lengthOf(n)) {
        etags.set(n, p.etag);
        loadedDone += p.size;
      }
    }
    const resumedParts = etags.size;
    const resumedBytes = loadedDone;
    const queue = [];
    for (let n = 1; n <= count; n++) if (!etags.has(n)) queue.push(n);
    const inflight = new Map();
    const started = performance.now();
    const progress = () => {
      let loaded = loadedDone;
      for (const v of inflight.values()) loaded += v;
      const secs = (performance.now() - started) / 1000;
      const rate = secs > 0.5 ? (loaded - resumedBytes) / secs : 0;
      const eta = rate > 0 ? (file.size - loaded) / rate : null;
      this.emit({ phase: "uploading", loaded, partsDone: etags.size, partsTotal: count, resumedParts, rate, eta });
    };
    progress();
    const signal = this.controller.signal;
    const worker = async () => {
      while (queue.length) {
        const n = queue.shift();
        const start = (n - 1) * partSize;
        const part = file.slice(start, start + lengthOf(n));
        for (let attempt = 1; ; attempt++) {
          if (signal.aborted) throw new DOMException("aborted", "AbortError");
          try {
            inflight.set(n, 0);
            const etag = await this.s3.uploadPart(this.bucket, this.key, this.uploadId, n, part, {
              signal,
              onProgress: (b) => { inflight.set(n, Math.min(b, part.size)); progress(); },
            });
            inflight.delete(n);
            etags.set(n, etag);
            loadedDone += part.size;
            progress();
            break;
          } catch (e) {
            inflight.delete(n);
            if (attempt >= ATTEMPTS || !retryable(e)) throw e;
            await sleep(500 * 2 ** attempt, signal);
          }
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.concurrency, Math.max(1, queue.length)) }, worker));
    } catch (e) {
      this.controller.abort();
      if (e && e.name === "AbortError") {
        this.emit({ phase: "paused" });
      } else {
        this.emit({ phase: "failed" });
      }
      throw e;
    }
    this.emit({ phase: "completing", loaded: file.size, partsDone: count });
    // The store's own list is the truth: every part, with the size we sent.
    const listed = new Map((await this.s3.listParts(this.bucket, this.key, this.uploadId)).map((p) => [p.partNumber, p]));
    const parts = [];
    for (let n = 1; n <= count; n++) {
      const p = listed.get(n);
      if (!p || p.size !== lengthOf(n)) {
        throw new S3Error("InvalidPart", `part ${n} is missing or has the wrong size in the store; upload the file again`, 0, "", "CompleteMultipartUpload");
      }
      parts.push({ partNumber: n, etag: p.etag });
    }
    const etag = await this.s3.completeMultipart(this.bucket, this.key, this.uploadId, parts);
    forget(this.secretId, this.record);
    this.emit({ phase: "done", loaded: file.size, eta: 0 });
    return etag;
  }

  /** Stop sending; the upload stays remembered and can be resumed. */
  pause() {
    this.controller.abort();
  }

  /** Stop and discard the parts on the store. */
  async abort() {
    this.controller.abort();
    if (this.record) {
      forget(this.secretId, this.record);
      await this.s3.abortMultipart(this.bucket, this.key, this.uploadId);
    }
  }
}

/** Abort a remembered upload without its file. */
export async function discard(s3, secretId, record) {
  forget(secretId, record);
  try {
    await s3.abortMultipart(record.bucket, record.key, record.uploadId);
  } catch (e) {
    if (!(e instanceof S3Error && e.code === "NoSuchUpload")) throw e;
  }
}
