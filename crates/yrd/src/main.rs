//! `yrd`: the YRD Platform in one binary.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;
use yrd_db::Db;
use yrd_kernel::{AccessLevel, Scope};
use yrd_web::{AppContext, Config, Module};

#[derive(Parser)]
#[command(
    name = "yrd",
    version,
    about = "YRD Platform: the shared platform of the Yangtze River Delta integration programme",
    long_about = "YRD Platform: one binary that serves the API, the bilingual console and the protocol \
                  endpoints of the Yangtze River Delta integration programme (Shanghai, Jiangsu, Zhejiang, Anhui).\n\n\
                  Start with `yrd serve --demo` and open http://127.0.0.1:8080."
)]
struct Cli {
    /// Database: an SQLite file path (created if missing) or a postgres:// URL.
    #[arg(long, global = true, env = "YRD_DB", default_value = "./yrd.db")]
    db: String,
    /// Log format.
    #[arg(long, global = true, value_enum, env = "YRD_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Log filter: a level (info, debug…) or target=level pairs.
    #[arg(long, global = true, env = "YRD_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform: API, console and background jobs on one port.
    Serve(ServeArgs),
    /// Apply every module's pending database migrations.
    Migrate {
        /// Only list the migrations and whether each is applied.
        #[arg(long)]
        status: bool,
    },
    /// Load the demonstration data set (idempotent).
    Demo,
    /// Users, grants and API tokens.
    #[command(subcommand)]
    User(UserCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The action plan: import and export plan files.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Government services: the service catalogue.
    #[command(subcommand)]
    Govservice(GovserviceCommand),
    /// E-licences: verify offline, export the trust bundle.
    #[command(subcommand)]
    Licence(LicenceCommand),
    /// Regional rail: GTFS feeds.
    #[command(subcommand)]
    Transit(TransitCommand),
    /// Health exchange: the recognition catalogue.
    #[command(subcommand)]
    Health(HealthCommand),
}

#[derive(Subcommand)]
enum HealthCommand {
    /// Check a recognition catalogue (CSV) and import it: all or nothing; items already
    /// there are changed. The shipped default is data/health/recognition.csv.
    ImportCatalogue { file: std::path::PathBuf },
}

#[derive(Subcommand)]
enum TransitCommand {
    /// Check a GTFS feed (zip or folder) and import it; on any error nothing changes.
    ImportGtfs {
        path: std::path::PathBuf,
        /// The feed's id (replaces the feed of that id); default: the file or folder name.
        #[arg(long)]
        feed: Option<String>,
    },
    /// Write a loaded feed as a GTFS zip.
    ExportGtfs {
        feed: String,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Plan journeys offline over the loaded feeds. Queries come as JSON lines
    /// (`{"from": "SHH", "to": "QDH", "date": "2026-11-28", "time": "10:00"}`) on standard
    /// input; each answer is a JSON line with the earliest arrival and the time it took.
    Plan,
}

#[derive(Subcommand)]
enum GovserviceCommand {
    /// Validate a service catalogue file and import it (all or nothing; re-import updates).
    ImportCatalogue {
        /// A catalogue file (TOML), e.g. data/govservice/catalogue.toml.
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum LicenceCommand {
    /// Verify an e-licence offline: signature, issuer key, validity and revocation,
    /// against an exported trust bundle. Exit status 0 valid, 1 not valid.
    Verify {
        /// A file holding the licence (compact JWS), or - for standard input.
        file: String,
        /// The trust bundle (from `yrd licence export-trust` or GET /api/v1/govservice/trust-bundle).
        #[arg(long)]
        trust: std::path::PathBuf,
    },
    /// Write the key registry and every issuer's signed status list, for offline verifiers.
    ExportTrust {
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Validate a plan file and import it: all or nothing, and again without duplicates.
    Import {
        /// A plan file (TOML), e.g. data/plan/yrd-2024-2026.toml.
        file: std::path::PathBuf,
        /// Only validate; import nothing.
        #[arg(long)]
        check: bool,
    },
    /// Write the plan in the database as a plan file (to standard output, or --out).
    Export {
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "YRD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Load the demonstration data and print the demo logins (never in production).
    #[arg(long)]
    demo: bool,
    /// Mark cookies Secure (when served behind HTTPS).
    #[arg(long, env = "YRD_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Seconds before a request is cut off.
    #[arg(long, default_value_t = 30)]
    request_timeout: u64,
    /// With --demo: connect this many simulated charging stations over OCPP, each sending
    /// a message every ten seconds, so the charging console shows live changes.
    #[arg(long, requires = "demo", value_parser = clap::value_parser!(u16).range(1..=2000))]
    simulate: Option<u16>,
    /// Several nodes on one database: a NATS server (e.g. nats://127.0.0.1:4222) that
    /// carries remote commands to the node holding a charging station's connection.
    #[arg(long, env = "YRD_NATS_URL")]
    nats: Option<String>,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input or a prompt.
    Add {
        login: String,
        /// Name shown in the console.
        #[arg(long)]
        name: String,
        /// Platform administrator: may do everything everywhere.
        #[arg(long)]
        admin: bool,
        /// No password: the account signs in with API tokens only.
        #[arg(long)]
        no_password: bool,
    },
    /// Set a user's password (read from standard input or a prompt).
    Passwd { login: String },
    /// Grant a level in a module within a scope.
    Grant {
        login: String,
        /// Module name, or * for every module.
        #[arg(long)]
        module: String,
        /// read, write, approve or admin.
        #[arg(long)]
        level: AccessLevel,
        /// Code prefix: "" the whole region, 32 Jiangsu, 3205 Suzhou (Jiangsu).
        #[arg(long, default_value = "")]
        scope: Scope,
    },
    /// Revoke a grant.
    Revoke {
        login: String,
        #[arg(long)]
        module: String,
        #[arg(long, default_value = "")]
        scope: Scope,
    },
    /// List users and their grants.
    List,
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token for a user and print it (shown this once).
    Create {
        login: String,
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// Days until it expires (1–366); without it, it never expires.
        #[arg(long)]
        expires_days: Option<i64>,
    },
    /// Revoke a token by its id.
    Revoke { id: i64 },
    /// List a user's tokens (never the secrets).
    List { login: String },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain and report the first broken entry.
    Verify,
}

fn init_logging(format: LogFormat, filter: &str) {
    use tracing_subscriber::prelude::*;
    let targets: tracing_subscriber::filter::Targets = filter
        .parse()
        .unwrap_or_else(|_| tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO));
    let registry = tracing_subscriber::registry().with(targets);
    match format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr))
            .init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the runtime starts");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn open(db: &str, modules: &[Arc<dyn Module>]) -> Result<Db, String> {
    let db = Db::connect(db).await.map_err(|e| e.to_string())?;
    db.migrate(&yrd_web::all_migrations(modules))
        .await
        .map_err(|e| e.to_string())?;
    Ok(db)
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let modules = match &cli.command {
        Command::Serve(args) => yrd::modules_with_broker(args.nats.as_deref()),
        _ => yrd::modules(),
    };
    match cli.command {
        Command::Serve(args) => serve(&cli.db, args, modules).await,
        Command::Migrate { status } => {
            let db = Db::connect(&cli.db).await.map_err(|e| e.to_string())?;
            let sets = yrd_web::all_migrations(&modules);
            if status {
                for step in db.migration_status(&sets).await.map_err(|e| e.to_string())? {
                    let mark = if step.applied { "applied" } else { "pending" };
                    println!("{:<10} {:>4}  {:<30} {mark}", step.module, step.version, step.name);
                }
            } else {
                let applied = db.migrate(&sets).await.map_err(|e| e.to_string())?;
                println!("{} migrations applied; the database is up to date.", applied.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => {
            let db = open(&cli.db, &modules).await?;
            let ctx = AppContext::new(
                db,
                Config {
                    demo: true,
                    ..Config::default()
                },
            );
            yrd::load_demo(&ctx, &modules).await?;
            println!("Demonstration data loaded. {}", demo_login_line());
            Ok(ExitCode::SUCCESS)
        }
        Command::User(command) => {
            let db = open(&cli.db, &modules).await?;
            user_command(&db, command).await
        }
        Command::Plan(command) => plan_command(&cli.db, command, &modules).await,
        Command::Health(HealthCommand::ImportCatalogue { file }) => {
            let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let items = match yrd_health::recognition::parse_catalogue(&text) {
                Ok(items) => items,
                Err(problems) => {
                    for problem in &problems {
                        eprintln!("{}: {problem}", file.display());
                    }
                    eprintln!("{} problems; nothing was imported", problems.len());
                    return Ok(ExitCode::from(2));
                }
            };
            let db = open(&cli.db, &modules).await?;
            yrd_health::recognition::import_catalogue(&db, "cli", &items)
                .await
                .map_err(|e| e.to_string())?;
            println!("{} recognised tests imported", items.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Govservice(GovserviceCommand::ImportCatalogue { file }) => {
            let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let catalogue = match yrd_govservice::catalogue::parse(&text) {
                Ok(catalogue) => catalogue,
                Err(errors) => {
                    for error in &errors {
                        eprintln!("{}: {error}", file.display());
                    }
                    eprintln!("{} problems; nothing was imported", errors.len());
                    return Ok(ExitCode::from(2));
                }
            };
            let db = open(&cli.db, &modules).await?;
            let summary = yrd_govservice::service::import_catalogue(
                &db,
                "cli",
                &catalogue,
                &yrd_audit::sha256_hex(text.as_bytes()),
            )
            .await
            .map_err(|e| e.to_string())?;
            println!(
                "imported {}: {} licence types, {} service items",
                file.display(),
                summary.licence_types,
                summary.items
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Licence(LicenceCommand::Verify { file, trust }) => {
            let token = if file == "-" {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| e.to_string())?;
                text
            } else {
                std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?
            };
            let bundle_text = std::fs::read_to_string(&trust).map_err(|e| format!("{}: {e}", trust.display()))?;
            let bundle: yrd_govservice::licence::TrustBundle = serde_json::from_str(&bundle_text)
                .map_err(|e| format!("{}: not a trust bundle: {e}", trust.display()))?;
            match yrd_govservice::licence::verify_offline(token.trim(), &bundle, chrono::Utc::now()) {
                Ok(verified) => {
                    println!("VALID licence issued by {} (key {})", verified.issuer, verified.kid);
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&verified.credential).unwrap_or_default()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(problem) => {
                    println!("NOT VALID: {problem}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Transit(TransitCommand::ImportGtfs { path, feed }) => {
            let files = yrd_transit::gtfs::read_files(&path)?;
            let feed_id = feed.unwrap_or_else(|| {
                path.file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_else(|| "feed".into())
            });
            let db = open(&cli.db, &modules).await?;
            match yrd_transit::service::import(&db, "cli", &feed_id, files).await {
                Ok(report) => {
                    for warning in &report.warnings {
                        eprintln!("warning: {warning}");
                    }
                    println!(
                        "imported feed '{feed_id}' from {} ({} warnings)",
                        path.display(),
                        report.warnings.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(yrd_transit::service::ImportError::Invalid(report)) => {
                    for error in &report.errors {
                        eprintln!("error: {error}");
                    }
                    for warning in &report.warnings {
                        eprintln!("warning: {warning}");
                    }
                    eprintln!("{} errors; nothing was imported", report.errors.len());
                    Ok(ExitCode::from(2))
                }
                Err(yrd_transit::service::ImportError::Db(e)) => Err(e.to_string()),
            }
        }
        Command::Transit(TransitCommand::Plan) => {
            let db = open(&cli.db, &modules).await?;
            let network = yrd_transit::service::Shared::default()
                .network(&db)
                .await
                .map_err(|e| e.to_string())?;
            for line in std::io::stdin().lock().lines() {
                let line = line.map_err(|e| e.to_string())?;
                if line.trim().is_empty() {
                    continue;
                }
                let q: serde_json::Value = serde_json::from_str(&line).map_err(|e| format!("not a query: {e}"))?;
                let field = |name: &str| q[name].as_str().unwrap_or_default().to_string();
                let (from, to) = (network.station(&field("from")), network.station(&field("to")));
                let date: Option<chrono::NaiveDate> = field("date").parse().ok();
                let time = yrd_transit::http::parse_clock(&field("time"));
                let answer = match (from, to, date, time) {
                    (Some(from), Some(to), Some(date), Some(time)) => {
                        let started = std::time::Instant::now();
                        let journeys = network.journeys(from, to, date, time, None);
                        let micros = started.elapsed().as_micros();
                        let earliest = journeys
                            .iter()
                            .map(|j| j.arrival.clone())
                            .min_by_key(|a| (a.contains('+'), a.clone()));
                        serde_json::json!({"query": q, "earliest_arrival": earliest, "journeys": journeys.len(), "micros": micros})
                    }
                    _ => serde_json::json!({"query": q, "error": "unknown station, date or time"}),
                };
                println!("{answer}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Transit(TransitCommand::ExportGtfs { feed, out }) => {
            let db = open(&cli.db, &modules).await?;
            let files = yrd_transit::service::feed_files(&db, &feed)
                .await
                .map_err(|e| e.to_string())?;
            if files.is_empty() {
                return Err(format!("no feed '{feed}'"));
            }
            std::fs::write(&out, yrd_transit::gtfs::zip_files(&files))
                .map_err(|e| format!("{}: {e}", out.display()))?;
            println!("wrote {} ({} files)", out.display(), files.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Licence(LicenceCommand::ExportTrust { out }) => {
            let db = open(&cli.db, &modules).await?;
            let bundle = yrd_govservice::service::trust_bundle(&db)
                .await
                .map_err(|e| e.to_string())?;
            let text = serde_json::to_string_pretty(&bundle).map_err(|e| e.to_string())?;
            match out {
                Some(path) => std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?,
                None => println!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::Verify) => {
            let db = open(&cli.db, &modules).await?;
            let result = yrd_audit::verify(&db).await.map_err(|e| e.to_string())?;
            match result.first_broken {
                None => {
                    println!(
                        "audit log intact: {} entries, head {}",
                        result.checked,
                        result.head.as_deref().unwrap_or("(empty)")
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Some(broken) => {
                    println!(
                        "audit log BROKEN at entry {}: {} ({} entries before it are intact)",
                        broken.seq, broken.reason, result.checked
                    );
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}

fn demo_login_line() -> String {
    format!(
        "DEMO logins (demonstration data only): demo.admin, demo.office, demo.sh, demo.js, demo.zj, demo.ah, demo.hospital.sh, demo.hospital.ah, demo.patient, demo.operator — password {}",
        yrd::DEMO_PASSWORD
    )
}

async fn serve(db_target: &str, args: ServeArgs, modules: Vec<Arc<dyn Module>>) -> Result<ExitCode, String> {
    let db = open(db_target, &modules).await?;
    let config = Config {
        secure_cookies: args.secure_cookies,
        demo: args.demo,
        request_timeout: std::time::Duration::from_secs(args.request_timeout.max(1)),
        ..Config::default()
    };
    let ctx = AppContext::new(db.clone(), config);
    if args.demo {
        yrd::load_demo(&ctx, &modules).await?;
    }
    let platform = yrd_web::build(ctx.clone(), &modules);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    println!(
        "YRD Platform listening on http://{address} (database: {})",
        yrd_db::redact(db_target)
    );
    if args.demo {
        println!("{}", demo_login_line());
        if let Some(stations) = args.simulate {
            start_simulator(&db, format!("http://{address}"), usize::from(stations)).await?;
        }
    } else if !yrd_auth::has_users(&db).await.map_err(|e| e.to_string())? {
        println!("No users yet. Create the first administrator: yrd user add admin --name \"Administrator\" --admin");
    }
    yrd_web::serve(ctx, platform, listener, std::time::Duration::from_secs(2))
        .await
        .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// Simulated stations of the demo operator, driven over real WebSockets against this
/// server until it stops (demo only).
async fn start_simulator(db: &Db, base: String, stations: usize) -> Result<(), String> {
    let token = yrd_auth::create_token(db, "system", yrd_charging::demo::DEMO_OPERATOR_LOGIN, "simulator", None)
        .await
        .map_err(|e| format!("the simulator needs the demo operator: {e}"))?
        .token;
    let simulation = yrd_sim::Simulation {
        base,
        token,
        stations,
        rate: stations as f64 / 10.0,
        seconds: 10 * 365 * 86_400,
        no_register: false,
        server_pid: None,
    };
    println!("Simulating {stations} charging stations over OCPP 1.6 (one message each every 10 s).");
    tokio::spawn(async move {
        if let Err(error) = yrd_sim::run(simulation).await {
            tracing::warn!(%error, "the charging simulator stopped");
        }
    });
    Ok(())
}

/// A password from a prompt (twice, not echoed) or the first line of standard input.
fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let second = rpassword::prompt_password("Password again: ").map_err(|e| e.to_string())?;
        if first != second {
            return Err("the passwords differ".into());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

async fn user_command(db: &Db, command: UserCommand) -> Result<ExitCode, String> {
    const CLI_ACTOR: &str = "cli";
    match command {
        UserCommand::Add {
            login,
            name,
            admin,
            no_password,
        } => {
            let password = if no_password { None } else { Some(read_password()?) };
            let user = yrd_auth::create_user(
                db,
                CLI_ACTOR,
                yrd_auth::NewUser {
                    login,
                    display_name: name,
                    password,
                    is_admin: admin,
                    is_demo: false,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
            println!(
                "created user {} (id {}){}",
                user.login,
                user.id,
                if user.is_admin { ", platform administrator" } else { "" }
            );
        }
        UserCommand::Passwd { login } => {
            let password = read_password()?;
            yrd_auth::set_password(db, CLI_ACTOR, &login, password)
                .await
                .map_err(|e| e.to_string())?;
            println!("password of {login} changed; their console sessions were ended");
        }
        UserCommand::Grant {
            login,
            module,
            level,
            scope,
        } => {
            yrd_auth::grant(db, CLI_ACTOR, &login, &module, level, &scope)
                .await
                .map_err(|e| e.to_string())?;
            println!("granted {level} in {module} within scope '{scope}' to {login}");
        }
        UserCommand::Revoke { login, module, scope } => {
            yrd_auth::revoke(db, CLI_ACTOR, &login, &module, &scope)
                .await
                .map_err(|e| e.to_string())?;
            println!("revoked {module} within scope '{scope}' from {login}");
        }
        UserCommand::List => {
            for user in yrd_auth::list_users(db).await.map_err(|e| e.to_string())? {
                let grants: Vec<String> = user
                    .grants
                    .iter()
                    .map(|g| format!("{}:{}@'{}'", g.module, g.level, g.scope))
                    .collect();
                let flags = [(user.user.is_admin, "admin"), (user.is_demo, "demo")]
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, name)| *name)
                    .collect::<Vec<_>>()
                    .join(",");
                println!(
                    "{:<16} {:<40} {:<10} {}",
                    user.user.login,
                    user.user.display_name,
                    flags,
                    grants.join(" ")
                );
            }
        }
        UserCommand::Token(TokenCommand::Create {
            login,
            name,
            expires_days,
        }) => {
            let expires = yrd_web::core_api::token_expiry(expires_days).map_err(|e| e.to_string())?;
            let token = yrd_auth::create_token(db, CLI_ACTOR, &login, &name, expires)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("token {} created for {login}; it is shown only now:", token.info.id);
            println!("{}", token.token);
        }
        UserCommand::Token(TokenCommand::Revoke { id }) => {
            yrd_auth::revoke_token(db, CLI_ACTOR, id, None)
                .await
                .map_err(|e| e.to_string())?;
            println!("token {id} revoked");
        }
        UserCommand::Token(TokenCommand::List { login }) => {
            for token in yrd_auth::list_tokens(db, &login).await.map_err(|e| e.to_string())? {
                let state = if token.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:>5}  {:<12} {:<30} {state:<8} expires {}",
                    token.id,
                    token.prefix,
                    token.name,
                    token.expires_at.as_deref().unwrap_or("never")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn plan_command(db: &str, command: PlanCommand, modules: &[Arc<dyn Module>]) -> Result<ExitCode, String> {
    match command {
        PlanCommand::Import { file, check } => {
            let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let plan = match yrd_plan::planfile::parse(&text) {
                Ok(plan) => plan,
                Err(errors) => {
                    for error in &errors {
                        eprintln!("{}: {error}", file.display());
                    }
                    eprintln!("{} problems; nothing was imported", errors.len());
                    return Ok(ExitCode::from(2));
                }
            };
            if check {
                println!(
                    "{}: valid: {} aspects, {} tasks",
                    file.display(),
                    plan.aspects.len(),
                    plan.tasks.len()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let db = open(db, modules).await?;
            let digest = yrd_audit::sha256_hex(text.as_bytes());
            let summary = yrd_plan::service::import(&db, "cli", &plan, &digest)
                .await
                .map_err(|e| e.to_string())?;
            println!("imported {}: {summary}", file.display());
        }
        PlanCommand::Export { out } => {
            let db = open(db, modules).await?;
            let plan = yrd_plan::service::export(&db, yrd_plan::http::today())
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no plan has been imported")?;
            let text = yrd_plan::planfile::render(&plan);
            match out {
                Some(path) => std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?,
                None => print!("{text}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
