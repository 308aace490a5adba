//! Typed configuration, read once at start-up from the environment (and a
//! `.env` file when present). A bad value stops the start with a message that
//! names the variable; nothing reads the environment per request.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    List(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub database_pool_size: u32,
    pub addr: SocketAddr,
    /// HS256 signing key; `None` means "generate one and keep it in the database".
    pub jwt_secret: Option<Vec<u8>>,
    /// Keys that signed tokens before the last rotation, still accepted until
    /// those tokens expire.
    pub jwt_previous_secrets: Vec<Vec<u8>>,
    pub jwt_ttl: Duration,
    pub cors_allowed_origins: CorsOrigins,
    pub max_body_bytes: usize,
    pub log_filter: String,
    /// Proxies whose `X-Forwarded-For` names the client; empty: the socket
    /// address is the client, and the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Votes one client address may cast per minute.
    pub votes_per_minute: u32,
    /// The Bayesian prior: how many votes of weight the prior mean counts for…
    pub rating_prior_weight: f64,
    /// …and that mean; `None`: the mean over all votes.
    pub rating_prior_mean: Option<f64>,
    /// How long public responses are served from memory; zero turns it off.
    pub cache_ttl: Duration,
}

/// A configuration value that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

const MIN_SECRET_BYTES: usize = 32;

impl Config {
    /// Reads the process environment, after loading `.env` if there is one.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is reported like any bad value.
        if let Err(err) = dotenvy::dotenv()
            && !err.not_found()
        {
            return Err(ConfigError { variable: ".env", message: err.to_string() });
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable lookup (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let bad = |variable: &'static str, message: String| ConfigError { variable, message };

        let database_url = DatabaseUrl::parse(get("DATABASE_URL").as_deref().unwrap_or("sqlite://anthology.db"))
            .map_err(|m| bad("DATABASE_URL", m))?;

        let database_pool_size =
            match get("DATABASE_POOL_SIZE") {
                None => 10,
                Some(v) => v.trim().parse::<u32>().ok().filter(|n| (1..=200).contains(n)).ok_or_else(|| {
                    bad("DATABASE_POOL_SIZE", format!("must be a whole number from 1 to 200, got {v:?}"))
                })?,
            };

        let addr_raw = get("ANTHOLOGY_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        let addr = addr_raw
            .trim()
            .parse::<SocketAddr>()
            .map_err(|_| bad("ANTHOLOGY_ADDR", format!("must be HOST:PORT with an IP address, got {addr_raw:?}")))?;

        let secret = |name: &'static str, value: String| {
            if value.len() < MIN_SECRET_BYTES {
                Err(bad(name, format!("must be at least {MIN_SECRET_BYTES} bytes, got {}", value.len())))
            } else {
                Ok(value.into_bytes())
            }
        };
        let jwt_secret = get("JWT_SECRET").map(|v| secret("JWT_SECRET", v)).transpose()?;
        let jwt_previous_secrets = match get("JWT_PREVIOUS_SECRETS") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|s| secret("JWT_PREVIOUS_SECRETS", s.trim().to_owned()))
                .collect::<Result<_, _>>()?,
        };
        if jwt_secret.is_none() && !jwt_previous_secrets.is_empty() {
            return Err(bad("JWT_PREVIOUS_SECRETS", "only makes sense beside JWT_SECRET".into()));
        }

        let jwt_ttl = match get("JWT_TTL_SECONDS") {
            None => Duration::from_secs(3600),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (60..=30 * 24 * 3600).contains(n))
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    bad("JWT_TTL_SECONDS", format!("must be a whole number of seconds from 60 to 2592000, got {v:?}"))
                })?,
        };

        let cors_allowed_origins = match get("CORS_ALLOWED_ORIGINS").as_deref().map(str::trim) {
            None | Some("*") => CorsOrigins::Any,
            Some(list) => {
                let origins: Vec<String> = list.split(',').map(|o| o.trim().trim_end_matches('/').to_owned()).collect();
                if let Some(wrong) = origins.iter().find(|o| !is_origin(o)) {
                    return Err(bad(
                        "CORS_ALLOWED_ORIGINS",
                        format!("{wrong:?} is not an origin like https://example.com (or use * alone)"),
                    ));
                }
                CorsOrigins::List(origins)
            }
        };

        let max_body_bytes = match get("ANTHOLOGY_MAX_BODY_BYTES") {
            None => 1024 * 1024,
            Some(v) => {
                v.trim().parse::<usize>().ok().filter(|n| (1024..=64 * 1024 * 1024).contains(n)).ok_or_else(|| {
                    bad(
                        "ANTHOLOGY_MAX_BODY_BYTES",
                        format!("must be a whole number of bytes from 1024 to 67108864, got {v:?}"),
                    )
                })?
            }
        };

        let trusted_proxies = match get("TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .map(|p| p.parse::<ipnet::IpNet>().or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)))
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    bad("TRUSTED_PROXIES", format!("must be a comma list of IP addresses or CIDR ranges, got {list:?}"))
                })?,
        };
        let votes_per_minute = match get("RATING_VOTES_PER_MINUTE") {
            None => 30,
            Some(v) => v.trim().parse::<u32>().ok().filter(|n| (1..=10_000_000).contains(n)).ok_or_else(|| {
                bad("RATING_VOTES_PER_MINUTE", format!("must be a whole number from 1 to 10000000, got {v:?}"))
            })?,
        };
        let rating_prior_weight = match get("RATING_PRIOR_WEIGHT") {
            None => 10.0,
            Some(v) => v.trim().parse::<f64>().ok().filter(|n| (0.0..=1_000_000.0).contains(n)).ok_or_else(|| {
                bad("RATING_PRIOR_WEIGHT", format!("must be a number of votes from 0 to 1000000, got {v:?}"))
            })?,
        };
        let rating_prior_mean = get("RATING_PRIOR_MEAN")
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| (1.0..=5.0).contains(n))
                    .ok_or_else(|| bad("RATING_PRIOR_MEAN", format!("must be a score from 1 to 5, got {v:?}")))
            })
            .transpose()?;

        let cache_ttl = match get("ANTHOLOGY_CACHE_TTL_MS") {
            None => Duration::from_millis(2000),
            Some(v) => {
                v.trim().parse::<u64>().ok().filter(|n| *n <= 60_000).map(Duration::from_millis).ok_or_else(|| {
                    bad(
                        "ANTHOLOGY_CACHE_TTL_MS",
                        format!("must be a whole number of milliseconds from 0 to 60000, got {v:?}"),
                    )
                })?
            }
        };

        let log_filter = get("RUST_LOG").unwrap_or_else(|| "info".into());
        tracing_subscriber::EnvFilter::try_new(&log_filter)
            .map_err(|e| bad("RUST_LOG", format!("is not a valid log filter: {e}")))?;

        Ok(Self {
            database_url,
            database_pool_size,
            addr,
            jwt_secret,
            jwt_previous_secrets,
            jwt_ttl,
            cors_allowed_origins,
            max_body_bytes,
            log_filter,
            trusted_proxies,
            votes_per_minute,
            rating_prior_weight,
            rating_prior_mean,
            cache_ttl,
        })
    }
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

    #[test]
    fn defaults_match_the_documented_table() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, DatabaseUrl::Sqlite("anthology.db".into()));
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.jwt_secret, None);
        assert_eq!(c.jwt_ttl, Duration::from_secs(3600));
        assert_eq!(c.cors_allowed_origins, CorsOrigins::Any);
        assert_eq!(c.log_filter, "info");
    }

    #[test]
    fn every_bad_value_names_its_variable() {
        let cases = [
            ("DATABASE_URL", "mysql://x"),
            ("DATABASE_URL", "sqlite://"),
            ("ANTHOLOGY_ADDR", "localhost"),
            ("JWT_SECRET", "too-short"),
            ("JWT_TTL_SECONDS", "soon"),
            ("JWT_TTL_SECONDS", "0"),
            ("CORS_ALLOWED_ORIGINS", "example.com"),
            ("DATABASE_POOL_SIZE", "0"),
            ("ANTHOLOGY_MAX_BODY_BYTES", "lots"),
            ("RUST_LOG", "info,[="),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("RATING_VOTES_PER_MINUTE", "0"),
            ("RATING_PRIOR_WEIGHT", "-1"),
            ("RATING_PRIOR_MEAN", "6"),
            ("ANTHOLOGY_CACHE_TTL_MS", "forever"),
        ];
        for (variable, value) in cases {
            let err = config(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{value:?} gave {err}");
            assert!(err.to_string().starts_with(variable));
        }
    }

    #[test]
    fn every_variable_is_documented_in_env_example_and_the_readme() {
        let source = include_str!("config.rs");
        let env_example = include_str!("../.env.example");
        let readme = include_str!("../README.md");
        let variables: Vec<&str> = source.split("get(\"").skip(1).filter_map(|rest| rest.split('"').next()).collect();
        assert!(variables.len() >= 12, "{variables:?}");
        for variable in variables {
            assert!(env_example.contains(&format!("#{variable}=")), "{variable} is missing from .env.example");
            assert!(readme.contains(&format!("`{variable}`")), "{variable} is missing from the README's table");
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
            CorsOrigins::List(vec!["https://a.example".into(), "http://localhost:3000".into()])
        );
        assert_eq!(c.jwt_secret.as_deref(), Some(&b"0123456789abcdef0123456789abcdef"[..]));
    }
}
