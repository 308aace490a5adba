//! The `anthology` binary: parses the command line, reads the configuration
//! once, and runs the server or a management command.

use std::net::TcpListener;
use std::process::ExitCode;

use anthology::cli::{Cli, Command};
use anthology::config::{Config, parse_command_line};
use anthology::state::AppState;
use clap::CommandFactory;

fn main() -> ExitCode {
    tune_allocator();
    if openapi_requested() {
        print!("{}", anthology::openapi::DOCUMENT_JSON.as_str());
        return ExitCode::SUCCESS;
    }
    let cli: Cli = match parse_command_line(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => return fail(&format!("configuration error: {err}")),
    };
    let config = cli.config;
    init_logging(&config.log_filter);
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Migrate => anthology::db::Db::connect(&config.database_url, 1, config.database_statement_timeout)
            .and_then(|db| db.migrate())
            .map(|()| println!("migrations are up to date"))
            .map_err(anyhow::Error::from),
        Command::Editors(command) => anthology::cli::run_editors(&config, command),
        Command::Keys(command) => anthology::cli::run_keys(&config, command),
        Command::Export { out } => anthology::cli::run_export(&config, out.as_deref()),
        Command::Import { file } => anthology::cli::run_import(&config, &file),
        Command::Seed { stories, votes } => anthology::cli::run_seed(&config, stories, votes),
        Command::Plans { words } => anthology::cli::run_plans(&config, &words),
        Command::Openapi => unreachable!("handled before configuration"),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&format!("{err:#}")),
    }
}

/// `anthology openapi` prints a document that depends on no configuration
/// (it regenerates openapi/openapi.json anywhere), so it is answered before
/// `.env` and the environment are read: a bad value there must not stop it.
/// clap would check the variables while parsing the command line, so this
/// first look at it reads none.
fn openapi_requested() -> bool {
    let without_variables = Cli::command().mut_args(|arg| arg.env(None));
    without_variables.try_get_matches().is_ok_and(|matches| matches.subcommand_name() == Some("openapi"))
}

/// glibc's allocator, left to itself, more than doubled the server's peak
/// memory under load: it gives each thread that allocates its own arena (up
/// to 8 per core) and keeps what they free, and once a large block (a
/// password check's 19 MiB) has been freed it raises its mmap threshold, so
/// later large blocks come from the arenas and stay there. Two arenas, and
/// a fixed threshold above which blocks are mapped and unmapped on their
/// own. Set before any thread starts.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // glibc's <malloc.h>.
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        const M_ARENA_MAX: std::ffi::c_int = -8;
        unsafe extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        // SAFETY: mallopt only sets allocator parameters; no other thread exists yet.
        unsafe {
            mallopt(M_ARENA_MAX, 2);
            mallopt(M_MMAP_THRESHOLD, 256 * 1024);
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("anthology: {message}");
    ExitCode::FAILURE
}

/// One JSON line per event; with tracing-actix-web's root span closing, one
/// line per request with method, route, status and latency.
fn init_logging(filter: &str) {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .init();
}

fn serve(config: Config) -> anyhow::Result<()> {
    use anyhow::Context;
    let (addr, metrics_addr) = (config.addr, config.metrics_addr);
    let state = AppState::init(config)?;
    let listener = TcpListener::bind(addr).with_context(|| format!("ANTHOLOGY_ADDR: cannot listen on {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let metrics = match metrics_addr {
        Some(addr) => {
            let listener =
                TcpListener::bind(addr).with_context(|| format!("ANTHOLOGY_METRICS_ADDR: cannot listen on {addr}"))?;
            tracing::info!(addr = %listener.local_addr()?, "serving metrics");
            Some(listener)
        }
        None => None,
    };
    actix_web::rt::System::new().block_on(async move {
        if let Some(listener) = metrics {
            actix_web::rt::spawn(anthology::server::serve_metrics(listener)?);
        }
        anthology::server::serve(state, listener)?.await
    })?;
    Ok(())
}
