//! The command line: `anthology [serve]`, `anthology migrate`,
//! `anthology editors create|list|set-role|disable`, `anthology keys rotate|list|revoke`,
//! `anthology openapi`, `anthology export|import`. Every command goes
//! through the same domain functions, and so the same rules, as the API;
//! `anthology seed` (a big site to benchmark) writes the same rows in bulk.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand};

use crate::auth::keys;
use crate::config::Config;
use crate::db::{Db, Internal};
use crate::editors::{self, EditorRow, EditorUpdate, Role};
use crate::error::ApiError;
use crate::pagination::{CursorKey, MAX_LIMIT, PageRequest};

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
    /// Write everything (editors with their password hashes, stories with
    /// revisions and tags, votes, related links, the server's keys) as NDJSON:
    /// a backup, or the way to move to another database.
    Export {
        /// The file to write; standard output when absent.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Fill a new database with a big site to measure with: published
    /// stories (varied text, 40 tags, five years of dates) and votes, shaped
    /// as the app writes them, every derived count consistent.
    Seed {
        /// How many stories.
        #[arg(long, default_value_t = 1_000_000)]
        stories: u64,
        /// How many votes, spread evenly over the stories.
        #[arg(long, default_value_t = 10_000_000)]
        votes: u64,
    },
    /// Print how the database finds each public story list (its query
    /// plans), as readers' requests would run now: on a big site, no list
    /// should scan or sort all the stories.
    Plans {
        /// Also plan a search for this word (repeatable): how its newest
        /// matches are found, then ranked.
        #[arg(long = "search", value_name = "WORD")]
        words: Vec<String>,
    },
    /// Load an export into this database, which must be new (no editors or
    /// stories), in one transaction: a failure leaves it empty.
    Import {
        /// The export to read (`-` for standard input).
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Start signing tokens with a new key. Tokens the old one signed before
    /// now stay valid until they expire; any it signs later are refused. Keys
    /// replaced longer ago than a token lives are deleted. Logins sign with
    /// the new key at once, and every running process verifies with the new
    /// state within a minute. (With JWT_SECRET set, rotate by configuration: a
    /// new JWT_SECRET, the old one in JWT_PREVIOUS_SECRETS.)
    Rotate,
    /// List the signing keys: id, created, and retired (or "signing").
    List,
    /// Drop retired signing keys at once: the tokens they signed stop working
    /// (running processes stop accepting them within a minute, when they
    /// re-read the keys). The key that signs now cannot be revoked: rotate
    /// first. For a leaked key.
    Revoke {
        /// The key's id, as `keys list` and a token's `kid` header show it.
        /// (Ids are base64url, so one may begin with `-`: it is still an id.)
        #[arg(
            required_unless_present = "all_but_current",
            conflicts_with = "all_but_current",
            allow_hyphen_values = true
        )]
        kid: Option<String>,
        /// Every key but the one that signs now.
        #[arg(long)]
        all_but_current: bool,
    },
}

/// `anthology export`: a progress bar on stderr when it is a terminal.
pub fn run_export(config: &Config, out: Option<&std::path::Path>) -> anyhow::Result<()> {
    let db = open(config)?;
    let bar = progress_bar("exported");
    let tick = ticker(&bar);
    let rows = match out {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            crate::transfer::export(&db, &mut std::io::BufWriter::new(file), &tick)?
        }
        None => crate::transfer::export(&db, &mut std::io::BufWriter::new(std::io::stdout().lock()), &tick)?,
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    eprintln!("exported {rows} rows");
    Ok(())
}

/// `anthology seed`.
pub fn run_seed(config: &Config, stories: u64, votes: u64) -> anyhow::Result<()> {
    let db = open(config)?;
    let bar = progress_bar("seeded");
    let tick = ticker(&bar);
    crate::seed::seed(&db, stories, votes, &tick).map_err(explain)?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    eprintln!("seeded {stories} stories and {votes} votes");
    Ok(())
}

/// `anthology plans`: each path's URL, then its plan indented below it.
pub fn run_plans(config: &Config, words: &[String]) -> anyhow::Result<()> {
    let db = open(config)?;
    let mut conn = db.conn()?;
    for (path, plan) in crate::stories::public_list_plans(&mut conn, words).map_err(explain)? {
        println!("{path}");
        for line in plan {
            println!("    {line}");
        }
    }
    Ok(())
}

/// `anthology import FILE`.
pub fn run_import(config: &Config, path: &std::path::Path) -> anyhow::Result<()> {
    let db = open(config)?;
    let mut input: Box<dyn BufRead> = if path == std::path::Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let bar = progress_bar("imported");
    let tick = ticker(&bar);
    let rows = crate::transfer::import(&db, &mut input, &tick).map_err(explain)?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    println!("imported {rows} rows");
    Ok(())
}

/// Moves the bar, if there is one, every thousand rows.
fn ticker(bar: &Option<indicatif::ProgressBar>) -> impl Fn(u64) + '_ {
    move |rows| {
        if let Some(bar) = bar.as_ref().filter(|_| rows.is_multiple_of(1000)) {
            bar.set_position(rows);
        }
    }
}

/// A counter on stderr, only when a person is watching it.
fn progress_bar(verb: &'static str) -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!("{{spinner}} {verb} {{pos}} rows ({{per_sec}})"))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    })
}

/// Runs a keys command against the configured database.
pub fn run_keys(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    if config.jwt_secret.is_some() {
        bail!(
            "JWT_SECRET is set, so tokens are signed with it and the database's keys are not used: to rotate, \
             set a new JWT_SECRET and move the old one to JWT_PREVIOUS_SECRETS; to revoke a previous secret, \
             remove it from JWT_PREVIOUS_SECRETS and restart"
        );
    }
    let db = open(config)?;
    match command {
        KeysCommand::Rotate => {
            let rotation = db.write_now(|tx| Ok(keys::rotate(tx, config.jwt_ttl)?)).map_err(explain)?;
            println!(
                "new signing key {}; running servers switch to it within a minute; {} retired key(s) deleted",
                rotation.new_kid, rotation.retired
            );
        }
        KeysCommand::List => {
            let mut conn = db.conn()?;
            for key in keys::list(&mut conn).map_err(|e| explain(e.into()))? {
                let retired = key.retired_at.map_or("signing".to_owned(), |at| {
                    format!("retired {}Z", at.and_utc().format("%Y-%m-%dT%H:%M:%S"))
                });
                println!("{}\tcreated {}Z\t{retired}", key.kid, key.created_at.and_utc().format("%Y-%m-%dT%H:%M:%S"));
            }
        }
        KeysCommand::Revoke { kid, all_but_current } => {
            let which = match (&kid, all_but_current) {
                (_, true) => keys::Revoke::AllButCurrent,
                (Some(kid), false) => keys::Revoke::Key(kid),
                (None, false) => bail!("name the key to revoke, or pass --all-but-current"),
            };
            let revoked = db.write_now(|tx| keys::revoke(tx, which)).map_err(explain)?;
            if revoked.is_empty() {
                println!("no retired keys to revoke");
            }
            for kid in revoked {
                println!("revoked {kid}; running servers stop accepting its tokens within a minute");
            }
        }
    }
    Ok(())
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
    /// Change an editor's role. Its tokens stop working; the last active
    /// admin cannot be demoted.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: Role,
    },
    /// Disable an editor: it can no longer log in, and its tokens stop
    /// working. The last active admin cannot be disabled.
    Disable {
        #[arg(long)]
        email: String,
    },
}

/// Runs an editors command against the configured database, through the
/// same rules as the API.
pub fn run_editors(config: &Config, command: EditorsCommand) -> anyhow::Result<()> {
    let db = open(config)?;
    match command {
        EditorsCommand::Create { email, name, role } => {
            let password = read_password()?;
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
            check_new_editor(&email, &name, &password).map_err(explain)?;
            let password_hash = crate::auth::password::hash(&password).map_err(explain)?;
            let editor =
                db.write_now(|tx| editors::create(tx, &email, &name, role, &password_hash)).map_err(explain)?;
            println!("created {} editor {} (id {})", editor.role.as_str(), editor.email, editor.id);
        }
        EditorsCommand::List => {
            let mut after = None;
            // Pages follow the last id directly; the key only seals the
            // cursors the list function makes, for no list of the API.
            let key = db.write_now::<Internal, _, _>(|tx| Ok(CursorKey::load(tx)?)).map_err(explain)?;
            loop {
                let page = PageRequest { limit: MAX_LIMIT, after, key: key.clone(), list: String::new() };
                let list = db
                    .conn()
                    .map_err(anyhow::Error::from)
                    .and_then(|mut conn| editors::list_page(&mut conn, page).map_err(explain))?;
                for editor in &list.data {
                    let state = if editor.disabled { "disabled" } else { "active" };
                    let role = editor.role.as_str();
                    println!("{}\t{}\t{}\t{}\t{}", editor.id, editor.email, role, state, editor.display_name);
                }
                match list.data.last() {
                    Some(last) if list.page.has_more => after = Some(last.id),
                    _ => break,
                }
            }
        }
        EditorsCommand::SetRole { email, role } => {
            let change = EditorUpdate { role: Some(role), ..Default::default() };
            let editor = update(&db, &email, change)?;
            println!("{} is now {}", editor.email, editor.role.as_str());
        }
        EditorsCommand::Disable { email } => {
            let editor = update(&db, &email, EditorUpdate { disabled: Some(true), ..Default::default() })?;
            println!("disabled {}", editor.email);
        }
    }
    Ok(())
}

fn open(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url, 1, config.database_statement_timeout)?;
    db.migrate()?;
    Ok(db)
}

fn update(db: &Db, email: &str, change: EditorUpdate) -> anyhow::Result<EditorRow> {
    db.write_now(|tx| editors::update_by_email(tx, email, change)).map_err(|err| match err {
        ApiError::NotFound => anyhow!("no editor has the email {email}"),
        other => explain(other),
    })
}

/// An API error as a person at a terminal should read it: every invalid
/// field, or what conflicted.
fn explain(err: ApiError) -> anyhow::Error {
    match err {
        ApiError::Validation(errors) => {
            anyhow!(errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))
        }
        ApiError::Conflict(detail) | ApiError::BadRequest(detail) => anyhow!(detail),
        other => anyhow::Error::from(other),
    }
}

/// The same rules as `POST /v1/editors`.
fn check_new_editor(email: &str, name: &str, password: &str) -> Result<(), ApiError> {
    use validator::Validate;
    let new = editors::dto::NewEditor {
        email: email.into(),
        display_name: name.into(),
        role: Role::Editor,
        password: password.into(),
    };
    new.validate().map_err(|errors| ApiError::Validation(crate::json::field_errors(&errors)))
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("ANTHOLOGY_PASSWORD") {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("Password: ").context("cannot read the password");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("no password: set ANTHOLOGY_PASSWORD or pipe it on standard input");
    }
    Ok(password)
}
