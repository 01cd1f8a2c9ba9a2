//! The cloud API: Tencent Cloud API 3.0 style (`POST /`, `X-TC-Action`, TC3-HMAC-SHA256).
