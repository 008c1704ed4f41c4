//! The command line: `serve` (the default), `migrate`, `schema`, `user create`.

use std::net::TcpListener;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::auth::{Hasher, password};
use crate::config::Config;
use crate::db::models::auth_users::{self, NewAuthUser};
use crate::db::models::users::{self, NewUser};
use crate::db::{self, Db, DbError};
use crate::domain::Email;
use crate::domain::Role;
use crate::server;
use crate::state::AppState;

#[derive(Parser)]
#[command(name = "authql", version, about = "A GraphQL authentication server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run migrations if needed, then serve (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the GraphQL SDL (what schema.graphql holds).
    Schema,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user with an emailpass identity (e.g. the first admin).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long, value_enum, default_value = "member")]
        role: RoleArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Member,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Schema = command {
        print!("{}", crate::graphql::sdl());
        return ExitCode::SUCCESS;
    }
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("authql: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init(&config.log, config.log_format);
    let result = match command {
        Command::Serve => serve(config),
        Command::Migrate => migrate(&config),
        Command::User(UserCommand::Create { email, password, role }) => create_user(&config, &email, password, role),
        Command::Schema => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("authql: {message}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())
}

fn serve(config: Config) -> Result<(), String> {
    let bind = config.bind;
    let rt = runtime()?;
    rt.block_on(async move {
        let state = tokio::task::spawn_blocking(move || AppState::build(config))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let listener = TcpListener::bind(bind).map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let server = server::run(state, listener, None).map_err(|e| e.to_string())?;
        println!("authql listening on http://{addr}");
        tracing::info!(%addr, "listening");
        server.await.map_err(|e| e.to_string())
    })
}

fn migrate(config: &Config) -> Result<(), String> {
    let db = Db::connect(&config.database_url, 1, config.db_timeout).map_err(|e| e.to_string())?;
    let n = db.migrate().map_err(|e| e.to_string())?;
    println!("applied {n} migration(s)");
    Ok(())
}

fn create_user(config: &Config, email: &str, password_text: String, role: RoleArg) -> Result<(), String> {
    let email = Email::parse(email).ok_or("--email is not an e-mail address")?;
    let password_secret = SecretString::from(password_text);
    password::check_new(&password_secret).map_err(|e| format!("--password: {e}"))?;
    let db = Db::connect(&config.database_url, 1, config.db_timeout).map_err(|e| e.to_string())?;
    db.migrate().map_err(|e| e.to_string())?;
    let hasher = Hasher::new(config.argon2, 1, config.hash_max_wait).map_err(|e| e.to_string())?;
    let hash = runtime()?.block_on(hasher.hash(&password_secret)).map_err(|e| e.to_string())?;
    let role = match role {
        RoleArg::Admin => Role::Admin,
        RoleArg::Member => Role::Member,
    };
    let mut conn = db.get_blocking().map_err(|e| e.to_string())?;
    let user_id = db::new_id();
    let result = diesel::Connection::transaction(&mut **conn, |conn| -> Result<(), DbError> {
        let now = db::now();
        users::insert(
            conn,
            &NewUser {
                id: &user_id,
                email: email.as_str(),
                first_name: None,
                last_name: None,
                avatar_url: None,
                role: role.as_db(),
                email_verified: true,
                metadata: None,
                created_at: now,
                updated_at: now,
            },
        )?;
        let meta = serde_json::json!({ "password_hash": hash }).to_string();
        auth_users::insert(
            conn,
            &NewAuthUser {
                id: &db::new_id(),
                provider: crate::auth::emailpass::NAME,
                entity_id: email.as_str(),
                user_id: Some(&user_id),
                provider_metadata: Some(&meta),
                user_metadata: None,
                app_metadata: None,
                created_at: now,
                updated_at: now,
            },
        )
    });
    match result {
        Ok(()) => {
            println!("created user {user_id} <{email}> with role {}", role.as_db());
            Ok(())
        }
        Err(DbError::Conflict(_)) => Err(format!("a user or emailpass identity with e-mail {email} already exists")),
        Err(e) => Err(e.to_string()),
    }
}
