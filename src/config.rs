//! Typed configuration, read once at start-up from the environment (and a
//! `.env` file in the working directory) or from the matching command-line
//! options. A bad value stops the start with a message that names the
//! variable; nothing reads the environment per request.
//!
//! `Config` is a clap argument set: each field names its variable (`env`),
//! its default and a value parser that enforces the documented range, so
//! `anthology --help` lists them all and there is one list of variables.

use std::ffi::OsString;
use std::fmt::Display;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};

/// Where the data lives: chosen at run time from `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`: an embedded file, created on first start.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, handed to libpq unchanged.
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(path) = raw.strip_prefix("sqlite://").or_else(|| raw.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err("a SQLite URL needs a file path, as in sqlite://anthology.db".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        Err("must start with sqlite:// or postgres://".into())
    }
}

/// Which origins' pages may send votes and editor writes from a browser.
/// (Any origin may read.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    List(Vec<String>),
}

impl CorsOrigins {
    fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw == "*" {
            return Ok(Self::Any);
        }
        let origins: Vec<String> = raw.split(',').map(|o| o.trim().trim_end_matches('/').to_owned()).collect();
        if let Some(wrong) = origins.iter().find(|o| !is_origin(o)) {
            return Err(format!("{wrong:?} is not an origin like https://example.com (or use * alone)"));
        }
        Ok(Self::List(origins))
    }
}

// Each field's doc comment is its `--help` text. Every option is `global`, so
// `anthology serve --help` (or any command's) lists it too, and `long` options
// may follow the command. Secrets' values are never shown in the help.
#[derive(Debug, Clone, Parser)]
#[command(name = "anthology", next_help_heading = "Configuration (each option also read from its variable)")]
pub struct Config {
    /// Where the data lives: sqlite://PATH (created on first start) or
    /// postgres://USER:PASSWORD@HOST:PORT/DB. Migrations run at start-up.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", global = true, hide_env_values = true,
          default_value = "sqlite://anthology.db", value_parser = DatabaseUrl::parse)]
    pub database_url: DatabaseUrl,
    /// Connections in the pool, per process (1-200).
    #[arg(long, env = "DATABASE_POOL_SIZE", value_name = "DATABASE_POOL_SIZE", global = true,
          default_value_t = 10, value_parser = number_in(1..=200_u32, "a whole number"))]
    pub database_pool_size: u32,
    /// Longest a database statement may run before the database cancels it
    /// and the request answers 503, in milliseconds (10-600000). On SQLite,
    /// the longest all of one request's reads may run (writes are not cut).
    #[arg(long = "database-statement-timeout-ms", env = "DATABASE_STATEMENT_TIMEOUT_MS",
          value_name = "DATABASE_STATEMENT_TIMEOUT_MS", global = true, default_value = "5000",
          value_parser = number_in(10..=600_000_u64, "a whole number of milliseconds").map(Duration::from_millis))]
    pub database_statement_timeout: Duration,
    /// Address to listen on (IP:PORT).
    #[arg(long, env = "ANTHOLOGY_ADDR", value_name = "ANTHOLOGY_ADDR", global = true,
          default_value = "127.0.0.1:8080", value_parser = parse_addr)]
    pub addr: SocketAddr,
    /// Address for a second listener serving Prometheus metrics at /metrics
    /// (IP:PORT). Unset: no metrics listener. Keep it off the public network.
    #[arg(long, env = "ANTHOLOGY_METRICS_ADDR", value_name = "ANTHOLOGY_METRICS_ADDR", global = true,
          value_parser = parse_addr)]
    pub metrics_addr: Option<SocketAddr>,
    /// This API's public origin (and path prefix, if any), for the absolute
    /// links of feeds and sitemaps, e.g. https://api.magazine.example.
    /// Unset: http://ANTHOLOGY_ADDR. Never taken from a request's Host, which
    /// a client could make anything.
    #[arg(long, env = "PUBLIC_URL", value_name = "PUBLIC_URL", global = true, value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Where readers read a story, for links in feeds and sitemaps: a URL
    /// with {slug}, e.g. https://magazine.example/stories/{slug}. Unset: the
    /// story's URL in this API
    #[arg(long, env = "STORY_URL_TEMPLATE", value_name = "STORY_URL_TEMPLATE", global = true,
          value_parser = parse_story_url_template)]
    pub story_url_template: Option<String>,
    /// HS256 key for access tokens, at least 32 bytes. Unset: a key is
    /// generated once and kept in the database, shared by every process on it.
    /// (Set secrets in the environment: command lines are visible to others.)
    #[arg(long, env = "JWT_SECRET", value_name = "JWT_SECRET", global = true, hide_env_values = true,
          value_parser = parse_secret)]
    pub jwt_secret: Option<std::vec::Vec<u8>>,
    /// Secrets that signed tokens before the last rotation of JWT_SECRET
    /// (comma-separated): tokens they signed before this process started stay
    /// valid until they expire. Only with JWT_SECRET.
    #[arg(long, env = "JWT_PREVIOUS_SECRETS", value_name = "JWT_PREVIOUS_SECRETS", global = true,
          hide_env_values = true, value_delimiter = ',', value_parser = parse_previous_secret)]
    pub jwt_previous_secrets: Vec<Vec<u8>>,
    /// Access token lifetime in seconds (60-2592000).
    #[arg(long = "jwt-ttl-seconds", env = "JWT_TTL_SECONDS", value_name = "JWT_TTL_SECONDS", global = true,
          default_value = "3600",
          value_parser = number_in(60..=2_592_000_u64, "a whole number of seconds").map(Duration::from_secs))]
    pub jwt_ttl: Duration,
    /// Origins whose pages may send votes and editor writes from a browser: a
    /// comma list such as https://magazine.example,http://localhost:3000 (or
    /// *, any origin: not for a public site). Any origin may read. Unset: none
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_name = "CORS_ALLOWED_ORIGINS", global = true,
          value_parser = CorsOrigins::parse)]
    pub cors_allowed_origins: Option<CorsOrigins>,
    /// Largest request body accepted, in bytes (1024-67108864); larger is 413.
    #[arg(long, env = "ANTHOLOGY_MAX_BODY_BYTES", value_name = "ANTHOLOGY_MAX_BODY_BYTES", global = true,
          default_value_t = 1024 * 1024,
          value_parser = number_in(1024..=64 * 1024 * 1024_usize, "a whole number of bytes"))]
    pub max_body_bytes: usize,
    /// Log filter (tracing EnvFilter syntax). Logs are JSON lines on stderr,
    /// one per request.
    #[arg(long, env = "RUST_LOG", value_name = "RUST_LOG", global = true, default_value = "info",
          value_parser = parse_log_filter)]
    pub log_filter: String,
    /// Proxies (IP addresses or CIDR ranges, comma-separated) whose
    /// X-Forwarded-For names the client. Unset: the socket address is the
    /// client, and the header is ignored.
    #[arg(long, env = "TRUSTED_PROXIES", value_name = "TRUSTED_PROXIES", global = true, value_delimiter = ',',
          value_parser = parse_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Logins one email may fail per 15 minutes from all client addresses
    /// together (1-1000000); past that the email is refused until the window
    /// ends, except at addresses it logged in from in the last 30 days. Each
    /// (email, address) pair has its own limit of 5.
    #[arg(long, env = "LOGIN_FAILURES_PER_EMAIL", value_name = "LOGIN_FAILURES_PER_EMAIL", global = true,
          default_value_t = 100, value_parser = number_in(1..=1_000_000_u32, "a whole number"))]
    pub login_failures_per_email: u32,
    /// Password checks run at once (1-1024); a login that finds them all busy
    /// waits up to 2 s, then gets 503. Each holds about 19 MiB. Unset: the
    /// number of CPU cores.
    #[arg(long, env = "LOGIN_CONCURRENT_CHECKS", value_name = "LOGIN_CONCURRENT_CHECKS", global = true,
          value_parser = number_in(1..=1024_usize, "a whole number"))]
    pub login_concurrent_checks: Option<usize>,
    /// Votes one client address may cast per minute (IPv6: per /64), 1-10000000.
    #[arg(long = "rating-votes-per-minute", env = "RATING_VOTES_PER_MINUTE", value_name = "RATING_VOTES_PER_MINUTE",
          global = true, default_value_t = 30, value_parser = number_in(1..=10_000_000_u32, "a whole number"))]
    pub votes_per_minute: u32,
    /// New voters one client address may add to one story per day (UTC;
    /// IPv6: per /64), 1-1000000: one machine cannot stuff a rating with
    /// made-up voter ids. Re-votes by known voters do not count.
    #[arg(long, env = "RATING_NEW_VOTERS_PER_DAY", value_name = "RATING_NEW_VOTERS_PER_DAY", global = true,
          default_value_t = 25, value_parser = number_in(1..=1_000_000_u32, "a whole number"))]
    pub new_voters_per_day: u32,
    /// The Bayesian rating score: a story's votes plus this many imaginary
    /// votes of the prior mean (0.01-1000000; above 0, or a story nobody
    /// rated would have no score at all).
    #[arg(long, env = "RATING_PRIOR_WEIGHT", value_name = "RATING_PRIOR_WEIGHT", global = true,
          default_value_t = 10.0, value_parser = number_in(0.01..=1_000_000.0_f64, "a number of votes"))]
    pub rating_prior_weight: f64,
    /// The prior mean, a score from 1 to 5. Unset: the mean over all votes.
    #[arg(long, env = "RATING_PRIOR_MEAN", value_name = "RATING_PRIOR_MEAN", global = true,
          value_parser = number_in(1.0..=5.0_f64, "a score"))]
    pub rating_prior_mean: Option<f64>,
    /// How long readers' responses are served from memory, in milliseconds
    /// (0-60000; 0 turns it off). A write through this process empties it.
    #[arg(long = "cache-ttl-ms", env = "ANTHOLOGY_CACHE_TTL_MS", value_name = "ANTHOLOGY_CACHE_TTL_MS",
          global = true, default_value = "2000",
          value_parser = number_in(0..=60_000_u64, "a whole number of milliseconds").map(Duration::from_millis))]
    pub cache_ttl: Duration,
    /// Whether webhook URLs may point at loopback, private, link-local,
    /// unique-local, CGNAT or cloud-metadata addresses (true or false). Off,
    /// such URLs are refused when registered and when sent to. For tests and
    /// private networks only.
    #[arg(long, env = "WEBHOOKS_ALLOW_PRIVATE_URLS", value_name = "WEBHOOKS_ALLOW_PRIVATE_URLS", global = true,
          default_value = "false", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub webhooks_allow_private_urls: bool,
    /// The wait before a failed webhook delivery's first retry, in
    /// milliseconds (10-3600000); later retries wait longer (6x, 24x, 120x…
    /// of 5 s, at least a day in all).
    #[arg(long = "webhooks-retry-base-ms", env = "WEBHOOKS_RETRY_BASE_MS", value_name = "WEBHOOKS_RETRY_BASE_MS",
          global = true, default_value = "5000",
          value_parser = number_in(10..=3_600_000_u64, "a whole number of milliseconds").map(Duration::from_millis))]
    pub webhooks_retry_base: Duration,
    /// How many days webhook events are kept once every delivery of theirs
    /// is delivered or failed (2-3650; retries last about 32 hours).
    /// Their deliveries and attempts go with them.
    #[arg(long = "webhooks-retention-days", env = "WEBHOOKS_RETENTION_DAYS", value_name = "WEBHOOKS_RETENTION_DAYS",
          global = true, default_value = "30",
          value_parser = number_in(2..=3650_u64, "a whole number of days").map(|days| Duration::from_secs(days * 86_400)))]
    pub webhooks_retention: Duration,
}

/// A configuration value that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

const MIN_SECRET_BYTES: usize = 32;
const MIN_SECRET_BITS: f64 = 96.0;

impl Config {
    /// Reads the process environment, after loading `./.env` if there is one.
    pub fn from_env() -> Result<Self, ConfigError> {
        parse_command_line::<Self>(["anthology"])
    }

    /// Builds the configuration from any variable lookup (tests pass a map),
    /// with the same parsers and ranges: each value found becomes its
    /// `--option=value`, and the process environment is not read.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let command = Self::command();
        let options: Vec<String> = command
            .get_arguments()
            .filter_map(|arg| {
                let value = lookup(arg.get_env()?.to_str()?).filter(|v| !v.trim().is_empty())?;
                Some(format!("--{}={value}", arg.get_long()?))
            })
            .collect();
        let mut command = command.mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from_mut(std::iter::once("anthology".to_owned()).chain(options))
            .map_err(|err| config_error(&err).unwrap_or_else(|| unexpected(&err)))?;
        Self::from_matches(&matches)
    }

    /// This API's public origin: `PUBLIC_URL`, or where it listens.
    pub fn api_base(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.addr))
    }

    fn from_matches(matches: &clap::ArgMatches) -> Result<Self, ConfigError> {
        let config = Self::from_arg_matches(matches).map_err(|err| unexpected(&err))?;
        // The one rule across variables, checked here so its message names the one to remove.
        if config.jwt_secret.is_none() && !config.jwt_previous_secrets.is_empty() {
            return Err(ConfigError {
                variable: "JWT_PREVIOUS_SECRETS",
                message: "only makes sense beside JWT_SECRET".into(),
            });
        }
        Ok(config)
    }
}

/// Parses a command line into `C`, which is [`Config`] or flattens it (the
/// binary's `Cli`). `./.env` is loaded first; an option not given is read
/// from its variable, and a blank variable counts as unset. Help, `--version`
/// and usage errors end the process, as [`Parser::parse`] does; a bad value
/// is a [`ConfigError`] naming its variable.
pub fn parse_command_line<C: Parser>(args: impl IntoIterator<Item = impl Into<OsString>>) -> Result<C, ConfigError> {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // An option given wins over its variable, but clap reads (and checks) a
    // global option's variable at every command level, even when the option
    // is given at another: a bad variable would stop an overriding option. So
    // first see which options are given, reading no variables.
    let given = C::command().mut_args(|arg| arg.env(None)).try_get_matches_from(&args).ok();
    let given = |arg: &clap::Arg| {
        given.as_ref().is_some_and(|m| m.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine))
    };
    load_dotenv()?;
    let mut command = C::command().mut_args(|arg| match arg.get_env().and_then(std::env::var_os) {
        // clap hands a set variable's value to the parser even when it is blank.
        Some(value) if given(&arg) || value.to_str().is_none_or(|v| v.trim().is_empty()) => arg.env(None),
        _ => arg,
    });
    let matches =
        command.try_get_matches_from_mut(&args).map_err(|err| config_error(&err).unwrap_or_else(|| err.exit()))?;
    Config::from_matches(&matches)?;
    C::from_arg_matches(&matches).map_err(|err| err.exit())
}

/// Loads `./.env` when there is one; variables already set win. Only the
/// working directory's: `dotenvy::dotenv()` would also search its parents.
fn load_dotenv() -> Result<(), ConfigError> {
    match dotenvy::from_path(".env") {
        Err(err) if !err.not_found() => Err(ConfigError { variable: ".env", message: err.to_string() }),
        _ => Ok(()),
    }
}

/// Each option's `--help` rendering (as clap's errors name it) and its variable.
static VARIABLES: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    let mut command = Config::command();
    command.build();
    command.get_arguments().filter_map(|arg| Some((arg.to_string(), arg.get_env()?.to_str()?.to_owned()))).collect()
});

/// The configuration error in a clap error about a bad value of one of
/// [`Config`]'s options. Other errors (an option given twice, or without a
/// value) are mistakes in the command line, better told by clap with usage.
fn config_error(err: &clap::Error) -> Option<ConfigError> {
    let (ErrorKind::ValueValidation, Some(ContextValue::String(option))) =
        (err.kind(), err.get(ContextKind::InvalidArg))
    else {
        return None;
    };
    let (_, variable) = VARIABLES.iter().find(|(rendered, _)| rendered == option)?;
    // The value parser's own message: clap's would repeat the value, even a secret.
    let message = std::error::Error::source(err)?.to_string();
    Some(ConfigError { variable, message })
}

/// A clap error that no value can cause: a mistake in `Config`'s definition.
fn unexpected(err: &clap::Error) -> ConfigError {
    ConfigError { variable: "configuration", message: err.to_string() }
}

/// A number in `range`, surrounding whitespace ignored; the message says
/// what is expected, as in "a whole number of seconds".
fn number_in<T>(range: RangeInclusive<T>, what: &'static str) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: FromStr + PartialOrd + Display + Clone + Send + Sync + 'static,
{
    move |value| {
        value
            .trim()
            .parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| format!("must be {what} from {} to {}, got {value:?}", range.start(), range.end()))
    }
}

fn parse_public_url(value: &str) -> Result<String, String> {
    let url = url::Url::parse(value.trim()).map_err(|e| format!("must be an absolute http(s) URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("must be an http(s) URL with no query or fragment, got {value:?}"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn parse_story_url_template(value: &str) -> Result<String, String> {
    let value = value.trim();
    if !value.contains("{slug}") {
        return Err(format!("must contain {{slug}}, as in https://magazine.example/stories/{{slug}}, got {value:?}"));
    }
    parse_public_url(&value.replace("{slug}", "slug"))?;
    Ok(value.to_owned())
}

fn parse_addr(value: &str) -> Result<SocketAddr, String> {
    value.trim().parse().map_err(|_| format!("must be HOST:PORT with an IP address, got {value:?}"))
}

/// Taken as given, not trimmed; the message tells the length, never the value.
/// Long enough is not enough: 32 × "a" is a guessable key. A crude bound on
/// what the key can hold — its length times the bits of its alphabet — must
/// reach [`MIN_SECRET_BITS`]; any random key passes it easily.
fn parse_secret(value: &str) -> Result<Vec<u8>, String> {
    if value.len() < MIN_SECRET_BYTES {
        return Err(format!("must be at least {MIN_SECRET_BYTES} bytes, got {}", value.len()));
    }
    let distinct = value.bytes().collect::<std::collections::BTreeSet<u8>>().len();
    if (value.len() as f64) * (distinct as f64).log2() < MIN_SECRET_BITS {
        return Err(format!(
            "has too little variety ({distinct} distinct characters) to be a secret: use a random key, \
             as from `openssl rand -base64 48`"
        ));
    }
    Ok(value.as_bytes().to_vec())
}

fn parse_previous_secret(value: &str) -> Result<Vec<u8>, String> {
    parse_secret(value.trim())
}

fn parse_proxy(value: &str) -> Result<ipnet::IpNet, String> {
    let value = value.trim();
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("must be a comma list of IP addresses or CIDR ranges; {value:?} is neither"))
}

fn parse_log_filter(value: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(value).map_err(|e| format!("is not a valid log filter: {e}"))?;
    Ok(value.to_owned())
}

fn is_origin(candidate: &str) -> bool {
    let Some((scheme, host)) = candidate.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains(['/', '?', '#', ' ', '*'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    /// Every variable, from the clap command itself.
    fn variables() -> Vec<String> {
        let command = Config::command();
        let variables: Vec<String> =
            command.get_arguments().filter_map(|arg| Some(arg.get_env()?.to_str()?.to_owned())).collect();
        assert!(variables.len() >= 14, "{variables:?}");
        variables
    }

    #[test]
    fn defaults_match_the_documented_table() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, DatabaseUrl::Sqlite("anthology.db".into()));
        assert_eq!(c.database_pool_size, 10);
        assert_eq!(c.database_statement_timeout, Duration::from_secs(5));
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.jwt_secret, None);
        assert!(c.jwt_previous_secrets.is_empty());
        assert_eq!(c.jwt_ttl, Duration::from_secs(3600));
        assert_eq!(c.cors_allowed_origins, None);
        assert_eq!(c.max_body_bytes, 1024 * 1024);
        assert_eq!(c.cache_ttl, Duration::from_millis(2000));
        assert!(c.trusted_proxies.is_empty());
        assert_eq!(c.login_failures_per_email, 100);
        assert_eq!(c.login_concurrent_checks, None);
        assert_eq!(c.votes_per_minute, 30);
        assert_eq!(c.rating_prior_weight, 10.0);
        assert_eq!(c.rating_prior_mean, None);
        assert_eq!(c.log_filter, "info");
    }

    #[test]
    fn a_blank_variable_counts_as_unset() {
        for variable in variables() {
            let c = config(&[(&variable, " \t")]).unwrap_or_else(|e| panic!("{variable}: {e}"));
            assert_eq!(format!("{c:?}"), format!("{:?}", config(&[]).unwrap()), "{variable}");
        }
    }

    #[test]
    fn every_bad_value_names_its_variable() {
        let cases = [
            ("DATABASE_URL", "mysql://x"),
            ("DATABASE_URL", "sqlite://"),
            ("ANTHOLOGY_ADDR", "localhost"),
            ("JWT_SECRET", "too-short"),
            ("JWT_SECRET", &"a".repeat(64)),
            ("JWT_SECRET", &"ab".repeat(32)),
            ("JWT_TTL_SECONDS", "soon"),
            ("JWT_TTL_SECONDS", "0"),
            ("CORS_ALLOWED_ORIGINS", "example.com"),
            ("DATABASE_POOL_SIZE", "0"),
            ("ANTHOLOGY_MAX_BODY_BYTES", "lots"),
            ("RUST_LOG", "info,[="),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("RATING_VOTES_PER_MINUTE", "0"),
            ("RATING_NEW_VOTERS_PER_DAY", "0"),
            ("PUBLIC_URL", "ftp://example.com"),
            ("ANTHOLOGY_METRICS_ADDR", "metrics"),
            ("STORY_URL_TEMPLATE", "https://magazine.example/stories/"),
            ("LOGIN_FAILURES_PER_EMAIL", "0"),
            ("LOGIN_CONCURRENT_CHECKS", "1025"),
            ("RATING_PRIOR_WEIGHT", "-1"),
            ("RATING_PRIOR_WEIGHT", "0"),
            ("RATING_PRIOR_MEAN", "6"),
            ("ANTHOLOGY_CACHE_TTL_MS", "forever"),
            // Past the ends of each range.
            ("DATABASE_POOL_SIZE", "201"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "9"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "600001"),
            ("JWT_TTL_SECONDS", "2592001"),
            ("ANTHOLOGY_MAX_BODY_BYTES", "1023"),
            ("ANTHOLOGY_CACHE_TTL_MS", "60001"),
            ("RATING_VOTES_PER_MINUTE", "10000001"),
            ("RATING_PRIOR_WEIGHT", "NaN"),
            ("RATING_PRIOR_MEAN", "0.99"),
            ("TRUSTED_PROXIES", "10.0.0.1,,10.0.0.2"),
            // Only beside JWT_SECRET.
            ("JWT_PREVIOUS_SECRETS", "0123456789abcdef0123456789abcdef"),
        ];
        for (variable, value) in cases {
            let err = config(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{value:?} gave {err}");
            assert!(err.to_string().starts_with(variable));
        }
    }

    #[test]
    fn a_bad_secret_is_reported_without_its_value() {
        let secret = "0123456789abcdef0123456789abcdef";
        for vars in [
            &[("JWT_SECRET", "hunter2")][..],
            &[("JWT_SECRET", secret), ("JWT_PREVIOUS_SECRETS", &format!("{secret}, hunter2"))],
        ] {
            let err = config(vars).unwrap_err();
            assert_eq!(err.to_string(), format!("{}: must be at least 32 bytes, got 7", vars.last().unwrap().0));
        }
    }

    #[test]
    fn ranges_include_their_ends_and_values_may_be_padded() {
        let c = config(&[
            ("DATABASE_POOL_SIZE", " 200 "),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "10"),
            ("JWT_TTL_SECONDS", "60"),
            ("ANTHOLOGY_MAX_BODY_BYTES", "67108864"),
            ("ANTHOLOGY_CACHE_TTL_MS", "0"),
            ("RATING_VOTES_PER_MINUTE", "1"),
            ("RATING_PRIOR_WEIGHT", "0.01"),
            ("RATING_PRIOR_MEAN", "5"),
            ("ANTHOLOGY_ADDR", " [::1]:80 "),
        ])
        .unwrap();
        assert_eq!(c.database_pool_size, 200);
        assert_eq!(c.database_statement_timeout, Duration::from_millis(10));
        assert_eq!(c.jwt_ttl, Duration::from_secs(60));
        assert_eq!(c.max_body_bytes, 64 * 1024 * 1024);
        assert_eq!(c.cache_ttl, Duration::ZERO);
        assert_eq!(c.votes_per_minute, 1);
        assert_eq!(c.rating_prior_weight, 0.01);
        assert_eq!(c.rating_prior_mean, Some(5.0));
        assert_eq!(c.addr.to_string(), "[::1]:80");
    }

    #[test]
    fn every_variable_is_documented_in_env_example_and_the_readme() {
        let env_example = include_str!("../.env.example");
        let readme = include_str!("../README.md");
        let command = Config::command();
        for arg in command.get_arguments().filter(|arg| arg.get_id() != "help") {
            let variable = arg.get_env().and_then(|v| v.to_str()).unwrap_or_else(|| panic!("{arg} reads no variable"));
            let value_names: Vec<&str> = arg.get_value_names().unwrap_or_default().iter().map(|n| n.as_str()).collect();
            assert_eq!(value_names, [variable], "{variable}: clap's errors and usage name it");
            assert!(arg.get_help().is_some(), "{variable} has no help text");
            // The same default everywhere: `#VAR=default` and `| `VAR` | `default` |`.
            let default = match arg.get_default_values() {
                [] => None,
                [default] => Some(default.to_str().unwrap()),
                more => panic!("{variable}: {more:?}"),
            };
            let example = format!("\n#{variable}={}\n", default.unwrap_or_default());
            assert!(env_example.contains(&example), "{example:?} is missing from .env.example");
            let row = format!("| `{variable}` | ");
            let row =
                readme.lines().find(|l| l.starts_with(&row)).unwrap_or_else(|| panic!("{row} is not in the README"));
            if let Some(default) = default {
                assert!(row.contains(&format!(" | `{default}` | ")), "the README's default for {variable}: {row}");
            }
        }
    }

    #[test]
    fn reads_postgres_urls_and_origin_lists() {
        let c = config(&[
            ("DATABASE_URL", "postgres://u:p@localhost/db"),
            ("CORS_ALLOWED_ORIGINS", "https://a.example, http://localhost:3000/"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ])
        .unwrap();
        assert_eq!(c.database_url, DatabaseUrl::Postgres("postgres://u:p@localhost/db".into()));
        assert_eq!(
            c.cors_allowed_origins,
            Some(CorsOrigins::List(vec!["https://a.example".into(), "http://localhost:3000".into()]))
        );
        assert_eq!(c.jwt_secret.as_deref(), Some(&b"0123456789abcdef0123456789abcdef"[..]));
    }

    #[test]
    fn reads_comma_lists_of_proxies_and_previous_secrets() {
        let (a, b) = ("0123456789abcdef".repeat(2), "fedcba9876543210".repeat(3));
        let c = config(&[
            ("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1,::1"),
            ("JWT_SECRET", &a),
            ("JWT_PREVIOUS_SECRETS", &format!("{a} , {b}")),
        ])
        .unwrap();
        let proxies: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(proxies, ["10.0.0.0/8", "192.168.1.1/32", "::1/128"]);
        assert_eq!(c.jwt_previous_secrets, [a.into_bytes(), b.into_bytes()]);
    }

    /// A value that starts like an option is still a value.
    #[test]
    fn values_are_not_read_as_options() {
        let err = config(&[("JWT_TTL_SECONDS", "--help")]).unwrap_err();
        assert_eq!(err.variable, "JWT_TTL_SECONDS");
        assert_eq!(config(&[("RUST_LOG", "--version")]).unwrap().log_filter, "--version");
    }
}
