//! `GET /openapi.json`: an OpenAPI 3 description of the endpoints that are not Tencent
//! Cloud API actions (health, metrics, this document), and of `POST /` as the entry
//! point of the signed actions (whose own reference is Tencent's CVM API 2017-03-12).

use serde_json::{json, Value};

pub fn document() -> Value {
    let actions = super::action_names().join(", ");
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "imgport service endpoints",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Operational endpoints of `imgport serve`. The cloud API itself is `POST /` in the Tencent Cloud API 3.0 style (TC3-HMAC-SHA256, CVM version 2017-03-12)."
        },
        "paths": {
            "/healthz": {"get": {
                "summary": "Liveness and database readiness",
                "responses": {
                    "200": {"description": "`ok`", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "503": {"description": "the database does not answer"}
                }
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics",
                "description": "imgport_images{state}, imgport_jobs_importing{phase}, imgport_api_requests_total{action,code}, imgport_jobs_total{outcome}, imgport_job_retakes_total, imgport_job_duration_seconds{outcome} and imgport_phase_duration_seconds{phase} (histograms), imgport_read_bytes_total, imgport_converted_bytes_total, imgport_stored_bytes_total, imgport_webhook_deliveries{state}, imgport_webhook_attempts_total{result}, imgport_workers.",
                "responses": {"200": {"description": "text exposition format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}}
            }},
            "/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}}}
            }},
            "/": {"post": {
                "summary": "Tencent Cloud API 3.0 actions",
                "description": format!("Signed with TC3-HMAC-SHA256; headers X-TC-Action, X-TC-Version (2017-03-12), X-TC-Region, X-TC-Timestamp. Actions: {actions}."),
                "parameters": [
                    {"name": "X-TC-Action", "in": "header", "required": true, "schema": {"type": "string", "enum": super::action_names()}},
                    {"name": "X-TC-Version", "in": "header", "required": true, "schema": {"type": "string", "enum": [super::VERSION]}},
                    {"name": "X-TC-Region", "in": "header", "required": false, "schema": {"type": "string"}},
                    {"name": "X-TC-Timestamp", "in": "header", "required": true, "schema": {"type": "integer"}},
                    {"name": "Authorization", "in": "header", "required": true, "schema": {"type": "string"}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": {
                    "description": "{\"Response\": {…, \"RequestId\"}} or {\"Response\": {\"Error\": {\"Code\", \"Message\"}, \"RequestId\"}}",
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "properties": {"Response": {"type": "object", "properties": {
                            "RequestId": {"type": "string"},
                            "Error": {"type": "object", "properties": {"Code": {"type": "string"}, "Message": {"type": "string"}}}
                        }}}
                    }}}
                }}
            }}
        }
    })
}
