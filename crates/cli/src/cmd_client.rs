//! `imgport api | images | messages`: a client of an import service for people on the
//! command line (issue 15 item 9). tccli prints only the fields its model knows, so an
//! IMPORTFAILED image shows no reason there; these print the service's own fields — the
//! error code, its cause and fix, the boot test, the message centre — with the same
//! credentials: `--secret-id/--secret-key`, else `TENCENTCLOUD_SECRET_ID/_KEY`, else
//! tccli's profile (`~/.tccli/default.credential`, `default.configure`: region and
//! `cvm.endpoint`), which the README's walkthrough sets.
//!
//! Requests are TC3-HMAC-SHA256 signed JSON POSTs (the service's own signer in its
//! client direction, `imgport_service::api::tc3::client_authorization`).

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Where and as whom to call.
#[derive(clap::Args, Clone)]
pub struct Conn {
    /// API endpoint, e.g. http://127.0.0.1:9000 (default: tccli's cvm.endpoint, IMGPORT_ENDPOINT).
    #[arg(long, env = "IMGPORT_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Region of the request (default: tccli's region, else ap-guangzhou).
    #[arg(long, env = "TENCENTCLOUD_REGION")]
    pub region: Option<String>,
    #[arg(long, env = "TENCENTCLOUD_SECRET_ID", hide_env_values = true)]
    pub secret_id: Option<String>,
    #[arg(long, env = "TENCENTCLOUD_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// tccli profile to read when a value is not given (~/.tccli/PROFILE.*).
    #[arg(long, default_value = "default")]
    pub profile: String,
}

#[derive(clap::Args)]
pub struct ApiArgs {
    /// The action, e.g. DescribeImages.
    pub action: String,
    /// Parameters as Key=Value; a value starting with `[` or `{`, or true/false, is JSON,
    /// anything else a string (the service reads numbers from strings).
    pub params: Vec<String>,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(clap::Args)]
pub struct ImagesArgs {
    /// Only these images.
    pub image_ids: Vec<String>,
    /// The whole DescribeImages answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(clap::Args)]
pub struct MessagesArgs {
    /// Only unread messages.
    #[arg(long)]
    pub unread: bool,
    /// Messages of this sub-user (default: the account's owner).
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// The resolved connection.
struct Client {
    endpoint: String,
    host: String,
    region: String,
    secret_id: String,
    secret_key: String,
}

/// tccli's profile files, when present: (credential, configure).
fn tccli_profile(profile: &str) -> (Value, Value) {
    let dir = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".tccli"));
    let read = |ext: &str| {
        dir.as_ref()
            .and_then(|d| std::fs::read(d.join(format!("{profile}.{ext}"))).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .unwrap_or(Value::Null)
    };
    (read("credential"), read("configure"))
}

impl Conn {
    fn client(&self) -> Result<Client> {
        let (cred, conf) = tccli_profile(&self.profile);
        let text = |v: &Value| v.as_str().map(str::to_string).filter(|s| !s.is_empty());
        let secret_id = self.secret_id.clone().or_else(|| text(&cred["secretId"]));
        let secret_key = self.secret_key.clone().or_else(|| text(&cred["secretKey"]));
        let (Some(secret_id), Some(secret_key)) = (secret_id, secret_key) else {
            bail!(
                "no credentials: pass --secret-id and --secret-key, set TENCENTCLOUD_SECRET_ID and \
                 TENCENTCLOUD_SECRET_KEY, or run `tccli configure set secretId … secretKey …`"
            );
        };
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| text(&conf["cvm"]["endpoint"]))
            .ok_or_else(|| {
                anyhow!(
                    "no endpoint: pass --endpoint http://HOST:PORT (the API address `imgport serve` \
                     prints), set IMGPORT_ENDPOINT, or run `tccli configure set cvm.endpoint …`"
                )
            })?;
        let endpoint = if endpoint.contains("://") {
            endpoint
        } else {
            format!("http://{endpoint}")
        };
        let url = url::Url::parse(&endpoint).with_context(|| format!("endpoint {endpoint}"))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => bail!("endpoint {endpoint} names no host"),
        };
        let region = self
            .region
            .clone()
            .or_else(|| text(&conf["region"]))
            .unwrap_or_else(|| "ap-guangzhou".into());
        Ok(Client {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            host,
            region,
            secret_id,
            secret_key,
        })
    }
}

impl Client {
    /// Call `action`; the `Response` object, or the service's error as `CODE: message`.
    fn call(&self, action: &str, params: &Value) -> Result<Value> {
        let body = serde_json::to_vec(params)?;
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let content_type = "application/json; charset=utf-8";
        let headers = vec![
            ("Content-Type".to_string(), content_type.to_string()),
            ("Host".to_string(), self.host.clone()),
        ];
        let auth = imgport_service::api::tc3::client_authorization(
            &self.secret_id,
            &self.secret_key,
            "cvm",
            &headers,
            &body,
            ts,
        )
        .ok_or_else(|| anyhow!("the clock is out of range"))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent
            .post(&format!("{}/", self.endpoint))
            .header("Content-Type", content_type)
            .header("Authorization", &auth)
            .header("X-TC-Action", action)
            .header("X-TC-Version", "2017-03-12")
            .header("X-TC-Region", &self.region)
            .header("X-TC-Timestamp", &ts.to_string())
            .send(&body[..])
            .with_context(|| format!("calling {action} at {}", self.endpoint))?;
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .with_context(|| format!("reading the answer to {action}"))?;
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("the answer to {action} is not JSON: {text:.200}"))?;
        let r = v.get("Response").cloned().unwrap_or(Value::Null);
        if let Some(e) = r.get("Error") {
            bail!(
                "{}: {} (RequestId {})",
                e["Code"].as_str().unwrap_or("?"),
                e["Message"].as_str().unwrap_or(""),
                r["RequestId"].as_str().unwrap_or("-")
            );
        }
        Ok(r)
    }
}

/// `Key=Value` arguments as a JSON object (values JSON when they look like it).
fn params(args: &[String]) -> Result<Value> {
    let mut m = Map::new();
    for a in args {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| anyhow!("parameter `{a}` is not Key=Value"))?;
        let json_like = v.starts_with(['[', '{']) || matches!(v, "true" | "false");
        let val = if json_like {
            serde_json::from_str(v).with_context(|| format!("parameter {k}: not JSON"))?
        } else {
            Value::String(v.to_string())
        };
        m.insert(k.to_string(), val);
    }
    Ok(Value::Object(m))
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("imgport: {e:#}");
    ExitCode::from(2)
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

pub fn run_api(a: ApiArgs) -> ExitCode {
    match params(&a.params) {
        Ok(p) => call_and_show(&a.conn, &a.action, p, true, |_| {}),
        Err(e) => fail(e),
    }
}

/// One image as lines: id, name, state and progress; for a failure its code, cause and
/// first fix; the boot test when one was asked for.
fn image_lines(i: &Value) -> Vec<String> {
    let s = |k: &str| i[k].as_str().unwrap_or("-").to_string();
    let state = s("ImageState");
    let mut head = format!("{}  {}  {}", s("ImageId"), s("ImageName"), state);
    if state == "IMPORTING" {
        head.push_str(&format!(
            "  {} % ({})",
            i["ImportProgress"].as_i64().unwrap_or(0),
            s("ImportPhase")
        ));
    } else {
        head.push_str(&format!("  {}  {} GB", s("OsName"), i["ImageSize"]));
    }
    let mut out = vec![head];
    if state == "IMPORTFAILED" {
        let code = s("ErrorCode");
        out.push(format!("  error:  {code} (phase {})", s("ImportPhase")));
        out.push(format!("  cause:  {}", s("ErrorMessage")));
        let findings = i["Findings"].as_array().cloned().unwrap_or_default();
        let fix = findings
            .iter()
            .find(|f| f["code"] == code.as_str())
            .or_else(|| findings.iter().find(|f| f["severity"] == "error"))
            .and_then(|f| f["fix"][0].as_str());
        if let Some(fix) = fix {
            out.push(format!("  fix:    {fix}"));
        }
    }
    let warnings = i["Findings"]
        .as_array()
        .map(|a| a.iter().filter(|f| f["severity"] == "warning").count())
        .unwrap_or(0);
    if warnings > 0 && state == "NORMAL" {
        out.push(format!(
            "  {warnings} warning(s): imgport images --json {} shows them",
            s("ImageId")
        ));
    }
    if let Some(b) = i["BootTest"].as_object() {
        out.push(format!(
            "  boot test: {} — {}",
            b.get("Outcome").and_then(Value::as_str).unwrap_or("-"),
            b.get("Reason").and_then(Value::as_str).unwrap_or("")
        ));
    }
    out
}

/// Calls `action` with `params` and prints the answer: as JSON with `json`, else with
/// `show`.
fn call_and_show(
    conn: &Conn,
    action: &str,
    params: Value,
    json: bool,
    show: impl FnOnce(&Value),
) -> ExitCode {
    match conn.client().and_then(|c| c.call(action, &params)) {
        Ok(v) if json => {
            print_json(&v);
            ExitCode::SUCCESS
        }
        Ok(v) => {
            show(&v);
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

pub fn run_images(a: ImagesArgs) -> ExitCode {
    let mut p = json!({"Limit": 100});
    if !a.image_ids.is_empty() {
        p["ImageIds"] = json!(a.image_ids);
    }
    call_and_show(&a.conn, "DescribeImages", p, a.json, |v| {
        let set = v["ImageSet"].as_array().cloned().unwrap_or_default();
        if set.is_empty() {
            println!("no images in this region");
        }
        for i in &set {
            for l in image_lines(i) {
                println!("{l}");
            }
        }
    })
}

pub fn run_messages(a: MessagesArgs) -> ExitCode {
    let mut p = json!({"Limit": 100, "UnreadOnly": a.unread});
    if let Some(u) = &a.user {
        p["UserName"] = json!(u);
    }
    call_and_show(&a.conn, "DescribeMessages", p, a.json, |v| {
        println!(
            "{} message(s), {} unread",
            v["TotalCount"], v["UnreadCount"]
        );
        for m in v["MessageSet"].as_array().cloned().unwrap_or_default() {
            println!(
                "\n{}  {}{}\n{}",
                m["CreatedTime"].as_str().unwrap_or("-"),
                m["Title"].as_str().unwrap_or(""),
                if m["IsRead"] == true {
                    ""
                } else {
                    "  (unread)"
                },
                m["Content"].as_str().unwrap_or("")
            );
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_parameters() {
        let p = params(&[
            "ImageName=my image".into(),
            "OsVersion=7".into(),
            "DryRun=true".into(),
            r#"ImageIds=["img-1"]"#.into(),
        ])
        .unwrap();
        assert_eq!(
            p,
            json!({"ImageName": "my image", "OsVersion": "7", "DryRun": true, "ImageIds": ["img-1"]})
        );
        assert!(params(&["nope".into()]).is_err());
    }

    #[test]
    fn a_failed_image_shows_code_cause_and_fix() {
        let i = json!({
            "ImageId": "img-1", "ImageName": "web", "ImageState": "IMPORTFAILED",
            "ImportPhase": "policy", "ErrorCode": "CloudInitNotInstalled",
            "ErrorMessage": "cloud-init is not installed",
            "Findings": [{"severity": "error", "code": "CloudInitNotInstalled", "fix": ["apt-get install -y cloud-init"]}],
            "BootTest": null
        });
        let l = image_lines(&i).join("\n");
        assert!(
            l.contains("error:  CloudInitNotInstalled (phase policy)"),
            "{l}"
        );
        assert!(l.contains("cause:  cloud-init is not installed"), "{l}");
        assert!(l.contains("fix:    apt-get install -y cloud-init"), "{l}");
    }
}
