//! `imgport serve`: the import service (issue 7) with embedded defaults — SQLite and a
//! local object store under `--data-dir` — or its database on PostgreSQL
//! (`--database-url`, for several servers on one database). Configuration: defaults, then `--config`
//! (TOML), then `IMGPORT_*` variables, then flags. The first start creates the `admin`
//! account and prints its credentials once, with a copy-paste walkthrough (tccli and
//! boto3). Logs go to stderr (`RUST_LOG`, default `info`); SIGTERM / ctrl-c stop it
//! gracefully.

use imgport_service::server::{Started, StorageShown};
use imgport_service::Config;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// `imgport serve --help`: where the state lives.
const AFTER_HELP: &str = "\
Database: by default SQLite, the file imgport.sqlite3 in --data-dir (one machine).
For PostgreSQL give --database-url postgres://USER:PASSWORD@HOST:PORT/DB (or
`database_url` in the --config file, or IMGPORT_DATABASE_URL; `database_connections`
sets the pool, default 4). The tables are created on the first start; `imgport account`
takes the same --database-url. With the embedded object store, objects and images stay
under --data-dir: servers that share one database (import jobs are leased, so each runs
once) need that directory shared too. With an external S3 store (object_store = \"s3\",
IMGPORT_S3_*) nothing is shared but the database and the store, and --role api|worker
splits the API from the import workers (README, \"Run at scale\"). The password is never logged. TLS is not supported: use sslmode=disable
(the default falls back to plain connections) on a trusted network.

Secrets: SecretKeys are sealed in the database with a master key kept outside it:
IMGPORT_MASTER_KEY (64 hex digits), else `secret_key_file`, else DATA_DIR.master.key
beside --data-dir, created 0600 on the first start — back it up; servers sharing a
database share it. The data directory is kept 0700 (files 0600) whatever the umask.
Connection limits and timeouts: README, section Security.";

#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Cloud API (+ console) address.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// S3/COS-compatible object store address.
    #[arg(long, value_name = "ADDR")]
    storage_listen: Option<SocketAddr>,
    /// State directory (SQLite database, objects, images).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The database: postgres://USER:PASSWORD@HOST:PORT/DB for PostgreSQL; empty (the
    /// default) for SQLite in the data directory.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// TOML configuration file (IMGPORT_* variables override it; flags override both).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Concurrent import jobs.
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// The region this service is (R-REGION), e.g. ap-guangzhou.
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Allow webhooks to HOST:PORT (repeatable; added to `webhook_allow` /
    /// IMGPORT_WEBHOOK_ALLOW). None are allowed by default.
    #[arg(long, value_name = "HOST:PORT")]
    webhook_allow: Vec<String>,
    /// What this process runs: all (default), api (API + console; imports are queued
    /// for workers) or worker (import jobs only, no listener). Several of each share
    /// a PostgreSQL database and an S3 store (README, "Run at scale").
    #[arg(long, value_name = "ROLE", value_parser = ["all", "api", "worker"])]
    role: Option<String>,
}

/// The configuration: file, environment, then flags.
fn load(a: &Args) -> anyhow::Result<Config> {
    let mut c = Config::load(a.config.as_deref())?;
    if let Some(v) = a.listen {
        c.listen = v;
    }
    if let Some(v) = a.storage_listen {
        c.storage_listen = v;
    }
    if let Some(v) = &a.data_dir {
        c.data_dir = v.clone();
    }
    if let Some(v) = &a.database_url {
        c.database_url = v.clone();
    }
    c.webhook_allow.extend(a.webhook_allow.iter().cloned());
    imgport_service::messages::webhook::parse_allow(&c.webhook_allow)
        .map_err(anyhow::Error::msg)?;
    if !c.database_url.trim().is_empty() && !imgport_service::db::is_postgres_url(&c.database_url) {
        anyhow::bail!(
            "database_url {}: use postgres://USER:PASSWORD@HOST:PORT/DB, or leave it empty for SQLite in the data directory",
            imgport_service::db::redact_url(&c.database_url)
        );
    }
    if c.database_connections == 0 {
        anyhow::bail!("database_connections must be at least 1");
    }
    if let Some(v) = a.workers {
        if v == 0 {
            anyhow::bail!("--workers must be at least 1");
        }
        c.workers = v;
    }
    if let Some(v) = &a.region {
        c.region = v.clone();
    }
    if let Some(v) = &a.role {
        c.role = imgport_service::config::Role::parse(v)?;
    }
    if !c.regions.contains(&c.region) {
        c.regions.push(c.region.clone());
    }
    Ok(c)
}

/// The banner: where the service listens; on the first start the admin credentials
/// and the walkthrough. The first line's format is parsed by tests and scripts.
fn banner(s: &Started) -> String {
    let storage = match &s.storage {
        StorageShown::Embedded(a) => format!("object storage on http://{a}"),
        StorageShown::External(e) => format!("object storage: the S3 store at {e}"),
        StorageShown::NotServed => "object storage served by another process".into(),
    };
    let mut out = match s.api {
        Some(api) => format!("imgport serve: API and console on http://{api}, {storage}\n"),
        None => format!("imgport serve: import workers only (role worker), {storage}\n"),
    };
    out.push_str(&format!(
        "region {}, {} import worker(s), data in {}\n",
        s.region,
        s.workers,
        s.data_dir.display()
    ));
    match (&s.new_admin, s.api, &s.storage) {
        (Some(a), Some(api), StorageShown::Embedded(st)) => {
            out.push_str(&walkthrough(api, *st, &s.region, a))
        }
        (Some(a), ..) => out.push_str(&format!(
            "\nFirst start: created account `{}` (AppId {}). Its credentials are shown only now:\n  SecretId:  {}\n  SecretKey: {}\n(README, \"Run at scale\": uploads go to your S3 store; import their presigned links)\n",
            a.name, a.app_id, a.secret_id, a.secret_key
        )),
        (None, ..) => out.push_str(
            "(`imgport account create NAME` makes an account; the walkthrough is in the README)\n",
        ),
    }
    out
}

/// Marks the start of the walkthrough's commands in the banner.
pub const WALKTHROUGH_START: &str = "# 1. Point tccli at this service";
/// Its last line.
pub const WALKTHROUGH_END: &str = "# (end of the walkthrough)";

/// The first-start text: credentials, then commands a user can paste into a shell as
/// they are (flush left, so the here-documents end where they should).
fn walkthrough(
    api: SocketAddr,
    st: SocketAddr,
    region: &str,
    a: &imgport_service::server::NewAdmin,
) -> String {
    let app = a.app_id;
    // This very binary (the user may run it through `cargo run`, off PATH).
    let imgport = std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string())
        .filter(|p| !p.contains(['\'', ' ', '\n']))
        .map_or_else(|| "imgport".to_string(), |p| format!("'{p}'"));
    let (id, key, name) = (&a.secret_id, &a.secret_key, &a.name);
    format!(
        r#"
First start: created account `{name}` (AppId {app}). Its credentials are shown only now:
  SecretId:  {id}
  SecretKey: {key}

Web console: open http://{api}/console/ and sign in with this SecretId and SecretKey to
create a bucket, upload, check and import an image, and read the result in Messages.

Walkthrough: paste the commands below into a shell, in a directory holding the disk image
disk.qcow2 of any supported system (`tccli cvm DescribeImportImageOs` lists them): the
check in step 4 detects which, and step 5 declares that. They need `pip install tccli
boto3`. Check an image locally first: imgport check disk.qcow2

{WALKTHROUGH_START}
tccli configure set secretId {id} secretKey {key} region {region}
tccli configure set cvm.endpoint http://{api}

# 2. Upload the image with boto3 and sign a URL for it (valid 1 hour, good for one import)
URL=$(python3 - <<'EOF'
import boto3
from botocore.config import Config
s3 = boto3.client('s3', endpoint_url='http://{st}', region_name='{region}',
                  aws_access_key_id='{id}', aws_secret_access_key='{key}',
                  config=Config(s3={{'addressing_style': 'path'}}))
s3.create_bucket(Bucket='images-{app}', CreateBucketConfiguration={{'LocationConstraint': '{region}'}})
s3.upload_file('disk.qcow2', 'images-{app}', 'disk.qcow2')
print(s3.generate_presigned_url('get_object', Params={{'Bucket': 'images-{app}', 'Key': 'disk.qcow2'}}, ExpiresIn=3600))
EOF
)

# 3. A small client for the answers tccli does not print (DryRun verdicts, progress, messages)
cat > imgport_call.py <<'EOF'
import json, sys
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
def value(v):
    # JSON for lists, objects and booleans; everything else is a string ("7" stays "7")
    return json.loads(v) if v[:1] in '[{{' or v in ('true', 'false') else v
params = dict((k, value(v)) for k, v in (a.split('=', 1) for a in sys.argv[2:]))
c = CommonClient('cvm', '2017-03-12', credential.Credential('{id}', '{key}'), '{region}',
                 profile=ClientProfile(httpProfile=HttpProfile(protocol='http', endpoint='{api}')))
print(json.dumps(c.call_json(sys.argv[1], params)['Response'], indent=2, ensure_ascii=False))
EOF

# 4. Pre-flight check without importing: every rule the image breaks, with evidence and fix,
#    and the OsType / OsVersion / Architecture it detected ("Detected")
python3 imgport_call.py ImportImage ImageUrl="$URL" ImageName=my-image DryRun=true | tee check.json
detected() {{ python3 -c "import json, sys; print(json.load(open('check.json'))['Detected'][sys.argv[1]] or '')" "$1"; }}
OS_TYPE=$(detected OsType); OS_VERSION=$(detected OsVersion); ARCH=$(detected Architecture)
echo "Detected: $OS_TYPE $OS_VERSION $ARCH"

# 5. Import it as what was detected; wait until it is NORMAL (or IMPORTFAILED, with ErrorCode and ErrorMessage)
tccli cvm ImportImage --ImageUrl "$URL" --ImageName my-image --OsType "$OS_TYPE" --OsVersion "$OS_VERSION" --Architecture "$ARCH"
until tccli cvm DescribeImages --Filters '[{{"Name": "image-name", "Values": ["my-image"]}}]' | grep -E '"ImageState": "(NORMAL|IMPORTFAILED)"'; do sleep 2; done
python3 imgport_call.py DescribeImages Filters='[{{"Name": "image-name", "Values": ["my-image"]}}]'

# 6. The message centre: the import's success or failure message
python3 imgport_call.py DescribeMessages

# 7. The same from imgport itself, with tccli's credentials: each image's state and, for a
#    failed import, its error code, cause and fix (tccli does not print them); the messages
{imgport} images
{imgport} messages
{WALKTHROUGH_END}
"#
    )
}

pub fn run(a: Args) -> ExitCode {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let config = match load(&a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("imgport serve: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    // Everything the server creates is private, whatever the umask (issue 18 item 4).
    imgport_service::perms::private_umask();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("imgport serve: {e}");
            return ExitCode::from(2);
        }
    };
    let r = rt.block_on(imgport_service::server::run(config, |s| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner(s).as_bytes());
        let _ = out.flush();
    }));
    // Blocking tasks still running (an upload's writer, a database call) do not hold
    // the exit back past the shutdown bound (issue 18 item 6).
    rt.shutdown_timeout(std::time::Duration::from_millis(300));
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imgport serve: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgport_service::server::NewAdmin;

    #[test]
    fn the_first_banner_has_credentials_and_a_walkthrough() {
        let mut s = Started {
            api: Some("127.0.0.1:9000".parse().unwrap()),
            storage: StorageShown::Embedded("127.0.0.1:9001".parse().unwrap()),
            region: "ap-guangzhou".into(),
            data_dir: "./data".into(),
            workers: 2,
            new_admin: Some(NewAdmin {
                name: "admin".into(),
                app_id: 1250000001,
                secret_id: "AKIDX".into(),
                secret_key: "KEY".into(),
            }),
        };
        let b = banner(&s);
        assert!(b.starts_with(
            "imgport serve: API and console on http://127.0.0.1:9000, object storage on http://127.0.0.1:9001\n"
        ));
        for want in [
            "(AppId 1250000001)",
            "  SecretId:  AKIDX\n",
            "  SecretKey: KEY\n",
            "tccli configure set secretId AKIDX secretKey KEY region ap-guangzhou",
            "\ntccli configure set cvm.endpoint http://127.0.0.1:9000\n",
            "endpoint_url='http://127.0.0.1:9001'",
            "Bucket='images-1250000001'",
            "\ntccli cvm ImportImage --ImageUrl \"$URL\"",
            "\nEOF\n",
            WALKTHROUGH_START,
        ] {
            assert!(b.contains(want), "{want:?} missing:\n{b}");
        }
        s.new_admin = None;
        assert!(!banner(&s).contains("SecretKey"));
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        a: Args,
    }

    fn parse(args: &[&str]) -> Args {
        use clap::Parser;
        Cli::parse_from(std::iter::once("serve").chain(args.iter().copied())).a
    }

    #[test]
    fn database_url_flag_picks_postgres_and_refuses_other_schemes() {
        let c = load(&parse(&[
            "--database-url",
            "postgresql://u:pw@db:5432/imgport",
        ]))
        .unwrap();
        assert_eq!(c.database_url, "postgresql://u:pw@db:5432/imgport");
        assert_eq!(c.database_shown(), "postgresql://u:***@db:5432/imgport");
        assert!(!format!("{c:?}").contains("pw"));
        let e = load(&parse(&["--database-url", "mysql://u:pw@db/imgport"]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("postgres://") && !e.contains("pw@"), "{e}");
        let c = load(&parse(&["--data-dir", "/srv/x"])).unwrap();
        assert_eq!(c.database_shown(), "/srv/x/imgport.sqlite3");
    }
}
