//! The command line: `anthology [serve]`, `anthology migrate`,
//! `anthology editors create|list|disable`, `anthology keys rotate`,
//! `anthology openapi`.

use std::io::{BufRead, IsTerminal};

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::db::Db;
use crate::editors::{self, Role, queries};
use crate::error::ApiError;

#[derive(Debug, Parser)]
#[command(name = "anthology", version, about = "A headless content API for story publishing")]
pub struct Cli {
    /// Every configuration variable, as a global option, so that `--help`
    /// lists them with their defaults; parse with
    /// [`crate::config::parse_command_line`], which reads `.env` and the
    /// environment and checks what clap cannot.
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage editor accounts.
    #[command(subcommand)]
    Editors(EditorsCommand),
    /// Manage the token signing keys kept in the database.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print the OpenAPI document (the committed copy is openapi/openapi.json).
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Start signing tokens with a new key. Tokens signed with the old one stay
    /// valid until they expire; keys replaced longer ago than that are deleted.
    /// Every running process switches within a minute. (With JWT_SECRET set,
    /// rotate by configuration: a new JWT_SECRET, the old one in
    /// JWT_PREVIOUS_SECRETS.)
    Rotate,
}

/// Runs a keys command against the configured database.
pub fn run_keys(config: &Config, command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Rotate => {
            if config.jwt_secret.is_some() {
                return Err("JWT_SECRET is set, so tokens are signed with it: to rotate, set a new JWT_SECRET \
                            and move the old one to JWT_PREVIOUS_SECRETS"
                    .into());
            }
            let db = Db::connect(&config.database_url, 1).map_err(|e| e.to_string())?;
            db.migrate().map_err(|e| e.to_string())?;
            let mut conn = db.conn().map_err(|e| e.to_string())?;
            let rotation = crate::auth::keys::rotate(&mut conn, config.jwt_ttl).map_err(|e| e.to_string())?;
            println!(
                "new signing key {}; running servers switch to it within a minute; {} retired key(s) deleted",
                rotation.new_kid, rotation.retired
            );
            Ok(())
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum EditorsCommand {
    /// Create an editor. The password is read from ANTHOLOGY_PASSWORD, or else
    /// from standard input (prompted for on a terminal); never from arguments.
    Create {
        #[arg(long)]
        email: String,
        /// The name shown to other editors; defaults to the email's local part.
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_enum, default_value_t = Role::Editor)]
        role: Role,
    },
    /// List editors.
    List,
    /// Disable an editor: it can no longer log in, and its tokens stop working.
    Disable {
        #[arg(long)]
        email: String,
    },
}

/// Runs an editors command against the configured database.
pub fn run_editors(config: &Config, command: EditorsCommand) -> Result<(), String> {
    let db = Db::connect(&config.database_url, 1).map_err(|e| e.to_string())?;
    db.migrate().map_err(|e| e.to_string())?;
    let mut conn = db.conn().map_err(|e| e.to_string())?;
    let api_err = |e: ApiError| match e {
        ApiError::Validation(errors) => {
            errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    };
    match command {
        EditorsCommand::Create { email, name, role } => {
            let password = read_password()?;
            check_new_editor(&email, name.as_deref(), &password).map_err(api_err)?;
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
            let password_hash = crate::auth::password::hash(&password).map_err(api_err)?;
            let editor = editors::create(&mut conn, &email, &name, role, &password_hash).map_err(api_err)?;
            println!("created {} editor {} (id {})", editor.role, editor.email, editor.id);
        }
        EditorsCommand::List => {
            for editor in queries::list(&mut conn, None, i64::MAX).map_err(|e| e.to_string())? {
                let state = if editor.disabled { "disabled" } else { "active" };
                println!("{}\t{}\t{}\t{}\t{}", editor.id, editor.email, editor.role, state, editor.display_name);
            }
        }
        EditorsCommand::Disable { email } => {
            let editor = queries::find_by_email(&mut conn, &editors::normalize_email(&email))
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no editor has the email {email}"))?;
            let changes = queries::EditorChanges { disabled: Some(true), ..Default::default() };
            queries::update(&mut conn, editor.id, &changes, true).map_err(|e| e.to_string())?;
            println!("disabled {}", editor.email);
        }
    }
    Ok(())
}

/// The same rules as `POST /v1/editors`.
fn check_new_editor(email: &str, name: Option<&str>, password: &str) -> Result<(), ApiError> {
    use validator::Validate;
    let new = editors::dto::NewEditor {
        email: email.to_owned(),
        display_name: name.unwrap_or("-").to_owned(),
        role: Role::Editor,
        password: password.to_owned(),
    };
    new.validate().map_err(|errors| ApiError::Validation(crate::json::field_errors(&errors)))
}

fn read_password() -> Result<String, String> {
    if let Ok(password) = std::env::var("ANTHOLOGY_PASSWORD") {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("Password: ").map_err(|e| format!("cannot read the password: {e}"));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err("no password: set ANTHOLOGY_PASSWORD or pipe it on standard input".into());
    }
    Ok(password)
}
