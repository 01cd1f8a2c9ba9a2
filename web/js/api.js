// The cloud API client: every action is a TC3-HMAC-SHA256 signed `POST /` with
// X-TC-Action, X-TC-Version, X-TC-Region and X-TC-Timestamp, as tccli sends it.
// Errors come back as HTTP 200 {"Response":{"Error":{"Code","Message"},"RequestId"}}
// and are raised as ApiError with the server's Code, Message and RequestId verbatim.

import { sign } from "./tc3.js";

/** A refused or failed API call: the server's words, untouched. */
export class ApiError extends Error {
  constructor(code, message, requestId, action) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.requestId = requestId || "";
    this.action = action || "";
  }
}

/** The cloud API of this service for one signed-in session. */
export class Api {
  /**
   * @param {{secretId: string, secretKey: string, region: string}} session
   * @param {{ApiVersion: string, Service: string}} config from /console/config.json
   */
  constructor(session, config) {
    this.session = session;
    this.version = config.ApiVersion;
    this.service = config.Service;
  }

  /** Call `action` with `params`; resolves to the Response object (without Error). */
  async call(action, params = {}, region = this.session.region) {
    const payload = JSON.stringify(params);
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      "content-type": "application/json",
      host: location.host,
      "x-tc-action": action,
    };
    const { authorization } = await sign({
      secretId: this.session.secretId,
      secretKey: this.session.secretKey,
      service: this.service,
      timestamp,
      headers,
      signedHeaders: ["content-type", "host", "x-tc-action"],
      payload,
    });
    let resp;
    try {
      resp = await fetch("/", {
        method: "POST",
        headers: {
          "Content-Type": headers["content-type"],
          Authorization: authorization,
          "X-TC-Action": action,
          "X-TC-Version": this.version,
          "X-TC-Region": region,
          "X-TC-Timestamp": String(timestamp),
        },
        body: payload,
        cache: "no-store",
        credentials: "omit",
      });
    } catch (e) {
      throw new ApiError("NetworkError", `The API at ${location.origin} could not be reached: ${e.message}`, "", action);
    }
    const text = await resp.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError("InvalidResponse", `HTTP ${resp.status}: ${text.slice(0, 500)}`, "", action);
    }
    const r = body && body.Response;
    if (!r || typeof r !== "object") {
      throw new ApiError("InvalidResponse", `HTTP ${resp.status}: no Response object in ${text.slice(0, 500)}`, "", action);
    }
    if (r.Error) {
      const err = new ApiError(String(r.Error.Code), String(r.Error.Message), r.RequestId, action);
      if (r.Error.Code === "AuthFailure.SignatureExpire") {
        const server = Date.parse(resp.headers.get("date") || "");
        if (Number.isFinite(server)) err.clockSkew = Math.round((Date.now() - server) / 1000);
      }
      throw err;
    }
    return r;
  }
}
