//! `imgport serve`: the import service with embedded defaults (SQLite + a local object
//! store under `--data-dir`), and `imgport account create NAME`.

use imgport_service::Config;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Cloud API (+ console) address.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// S3/COS-compatible object store address.
    #[arg(long)]
    storage_listen: Option<SocketAddr>,
    /// State directory (SQLite database, objects, images).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (flags override it; IMGPORT_* variables override the file).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Concurrent import jobs.
    #[arg(long)]
    workers: Option<usize>,
    /// The region this service is (R-REGION).
    #[arg(long)]
    region: Option<String>,
}

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
    if let Some(v) = a.workers {
        c.workers = v;
    }
    if let Some(v) = &a.region {
        c.region = v.clone();
    }
    Ok(c)
}

pub fn run(a: Args) -> ExitCode {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
    let config = match load(&a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("imgport serve: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let region = config.region.clone();
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
        println!("imgport serve: API and console on http://{}, object storage on http://{}", s.api, s.storage);
        if let Some((name, id, key, app)) = &s.new_admin {
            println!(
                "\nFirst start: created account `{name}` (AppId {app}). Its credentials are shown only now:\n  SecretId:  {id}\n  SecretKey: {key}\n"
            );
            println!("Upload an image and import it (copy, paste, adjust the file name):\n");
            println!("  export AWS_ACCESS_KEY_ID={id} AWS_SECRET_ACCESS_KEY={key}");
            println!("  aws --endpoint-url http://{} s3 mb s3://images-{app} --region {region}", s.storage);
            println!("  aws --endpoint-url http://{} s3 cp disk.qcow2 s3://images-{app}/disk.qcow2", s.storage);
            println!("  URL=$(aws --endpoint-url http://{} s3 presign s3://images-{app}/disk.qcow2)", s.storage);
            println!("  # or with boto3: boto3.client('s3', endpoint_url='http://{}', region_name='{region}', config=Config(s3={{'addressing_style':'path'}}))", s.storage);
            println!("  tccli configure set secretId {id} secretKey {key} region {region}");
            println!("  tccli cvm ImportImage --endpoint {} --Architecture x86_64 --OsType CentOS --OsVersion 7 --ImageUrl \"$URL\" --ImageName my-image", s.api);
            println!("  tccli cvm DescribeImages --endpoint {}", s.api);
            println!("  (check first, locally: imgport check disk.qcow2)\n");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }));
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imgport serve: {e}");
            ExitCode::from(2)
        }
    }
}

#[derive(clap::Args)]
pub struct AccountArgs {
    #[command(subcommand)]
    cmd: AccountCmd,
}

#[derive(clap::Subcommand)]
enum AccountCmd {
    /// Create an account (tenant) and print its AppId, SecretId and SecretKey.
    Create {
        name: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Add a user (a message recipient) to an account.
    AddUser {
        app_id: i64,
        name: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

pub fn account(a: AccountArgs) -> ExitCode {
    let (data_dir, config) = match &a.cmd {
        AccountCmd::Create {
            data_dir, config, ..
        }
        | AccountCmd::AddUser {
            data_dir, config, ..
        } => (data_dir, config),
    };
    let mut c = match Config::load(config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("imgport account: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(d) = data_dir {
        c.data_dir = d.clone();
    }
    let r = (|| -> anyhow::Result<()> {
        std::fs::create_dir_all(&c.data_dir)?;
        let db = imgport_service::db::Db::open(&c.data_dir.join("imgport.sqlite3"))?;
        match &a.cmd {
            AccountCmd::Create { name, .. } => {
                let acct = db.create_account(name, false)?;
                println!(
                    "{}",
                    serde_json::json!({"Name": acct.name, "AppId": acct.app_id, "SecretId": acct.secret_id, "SecretKey": acct.secret_key})
                );
            }
            AccountCmd::AddUser { app_id, name, .. } => {
                let id = db.create_user(*app_id, name)?;
                println!(
                    "{}",
                    serde_json::json!({"UserId": id, "AppId": app_id, "UserName": name})
                );
            }
        }
        Ok(())
    })();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imgport account: {e}");
            ExitCode::from(2)
        }
    }
}
