//! The command line: which subcommand to run and the flags every part reads.
//!
//! Every path, URL and command comes from here, so tests run the agent unprivileged in a
//! temporary root against a local metadata server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use claw_free_protocol::metadata::SecretName;

use claw_free_protocol::rollout::cache;

pub use crate::cache::CacheOptions;
use crate::declared::Declared;

pub const USAGE: &str = "\
usage: clawfree-agent <setup|watch-secrets|health|rollouts|run|serve-cache|set-secret NAME|serve-set-secret|propose ...|serve-propose> [flags]

  setup            first boot: configuration, recipient, setup state (once; idempotent)
  watch-secrets    apply encrypted secrets from instance metadata as they change
  health           probe the app, publish its health, restart it when it keeps failing
  rollouts         GitHub mode: switch to the system instance metadata names, check
                   its health, make it the boot default or roll back
  run              setup, then watch-secrets and health together (and rollouts
                   with --rollouts on)
  serve-cache      GitHub mode: serve the owner's cache bucket to Nix on the loopback,
                   as the VM's service account
  set-secret NAME  read a secret's value from stdin, store it, restart the app (local only)
  serve-set-secret one request on stdin (NAME, a line break, the value), done as
                   set-secret; answers `ok` or `error: REASON` on stdout (the
                   socket-activated service the unprivileged skill connects to)
  propose --title T [--body-file F] PATH=LOCAL...
                   GitHub mode: open a pull request on the bot's repository that
                   sets each PATH (in the repository) to the LOCAL file's content;
                   prints its URL
  serve-propose    one proposal on stdin as JSON ({title, body, files: {PATH:
                   base64}}), done as propose; answers `ok URL` or `error: REASON`
                   (the socket-activated service the unprivileged skill connects to)

flags:
  --metadata-url URL          default http://metadata.google.internal
  --root DIR                  prefix for every path below; default /
  --state-dir DIR             default /var/lib/openclaw
  --host-key PATH             default /etc/ssh/ssh_host_ed25519_key (its .pub beside it)
  --health-url URL            default http://127.0.0.1:18789/health
  --restart-cmd CMD           default \"systemctl restart openclaw-gateway.service\"
  --health-interval-secs N    default 60
  --health-failures N         failed probes in a row before a restart; default 3
  --restart-backoff-secs N    least time between two restarts, doubled after each; default 60
  --start-grace-secs N        how long a started app may fail before its failures count
                              toward a restart (until its first healthy answer); default 300
  --metadata-timeout-secs N   per-request timeout for the metadata server; default 10
  --gateway-credentials-dir DIR
                              where the app reads its systemd credentials (OpenClaw's
                              telegram.tokenFile points there); default
                              /run/credentials/openclaw-gateway.service

GitHub mode's rollouts (`rollouts` follows instance metadata `openclaw-system`; in
the commands, {path} is the system's store path, {id} a name unique to the activation
and {unit} one watched unit):
  --rollouts on|off           whether `run` follows it; default off
  --system-fetch-cmd CMD      default \"nix-store --realise {path}\"
  --system-switch-cmd CMD     default \"systemd-run --unit=clawfree-switch-{id} --wait
                              --collect --quiet {path}/bin/switch-to-configuration test\"
  --system-boot-cmd CMD       default \"nix-env --profile /nix/var/nix/profiles/system
                              --set {path} && {path}/bin/switch-to-configuration boot\"
  --unit-check-cmd CMD        default \"systemctl is-active --quiet {unit}\"
  --watched-units A,B         units that must be active; default openclaw-gateway.service
  --telegram-api URL          the Bot API root for getMe; default https://api.telegram.org
  --curl PATH                 the HTTP client for getMe (the agent has no TLS); default curl
  --rollout-token-file PATH   the Telegram token to check; default the agent's own secret
  --rollout-deadline-secs N   how long the health gate may take; default 300
  --current-system PATH       the running system's link; default /run/current-system
  --system-cache-url URL      the local substituter, asked for the system's narinfo
                              before fetching so a failure says why; default none

GitHub mode's pull requests (`propose`, `serve-propose`; through --curl):
  --github-repository O/N     the bot's repository (its claw-free.json names this VM)
  --worker-url URL            claw.free's site, which mints the GitHub token and is the
                              audience of the VM's identity token
  --github-api URL            default https://api.github.com

GitHub mode's substituter (`serve-cache`):
  --cache-bucket NAME         the Cloud Storage bucket holding the binary cache
  --cache-listen ADDR:PORT    a loopback address; default 127.0.0.1:8091
  --storage-api URL           default https://storage.googleapis.com

environment (a declarative NixOS configuration; each beats instance metadata):
  LLM_PROVIDER                kimi, claude or openai
  BOT_NAME                    the bot's display name
  CLAWFREE_BASE_CONFIG        a JSON file of OpenClaw settings that win over the agent's own
";

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Setup,
    WatchSecrets,
    Health,
    Rollouts,
    Run,
    ServeCache,
    SetSecret(SecretName),
    ServeSetSecret,
    Propose(ProposeArgs),
    ServePropose,
}

/// `propose`'s own arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProposeArgs {
    pub title: String,
    pub body_file: Option<PathBuf>,
    /// `(path in the repository, local file)`.
    pub files: Vec<(String, PathBuf)>,
}

/// GitHub mode's pull requests: where the repository and claw.free are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubOptions {
    pub repository: Option<String>,
    pub worker_url: Option<String>,
    pub api: String,
}

impl Default for GitHubOptions {
    fn default() -> Self {
        Self {
            repository: None,
            worker_url: None,
            api: "https://api.github.com".into(),
        }
    }
}

/// Everything the agent reads from outside, with the production defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The metadata server's base URL, without `/computeMetadata/v1`.
    pub metadata_url: String,
    pub root: PathBuf,
    pub state_dir: PathBuf,
    pub host_key: PathBuf,
    pub health_url: String,
    pub restart_cmd: String,
    pub health_interval: Duration,
    pub health_failures: u32,
    pub restart_backoff: Duration,
    pub start_grace: Duration,
    pub metadata_timeout: Duration,
    /// The gateway's systemd credentials folder. The gateway does not run as root, so
    /// it reads its token from the copy systemd puts there, not from the secret file.
    pub gateway_credentials_dir: PathBuf,
    /// What a declarative NixOS configuration fixes (from the environment, not flags).
    pub declared: Declared,
    pub rollout: RolloutOptions,
    pub cache: CacheOptions,
    pub github: GitHubOptions,
}

/// GitHub mode's rollouts: the commands and checks of [`crate::rollout_runner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutOptions {
    pub enabled: bool,
    pub fetch_cmd: String,
    pub switch_cmd: String,
    pub boot_cmd: String,
    pub unit_check_cmd: String,
    pub watched_units: Vec<String>,
    pub telegram_api: String,
    pub curl: String,
    /// `None`: the agent's own Telegram token secret.
    pub token_file: Option<PathBuf>,
    pub deadline: Duration,
    pub current_system: PathBuf,
    /// The local substituter's root, probed before a fetch.
    pub cache_url: Option<String>,
}

impl Default for RolloutOptions {
    fn default() -> Self {
        Self {
            enabled: false,
            fetch_cmd: "nix-store --realise {path}".into(),
            switch_cmd: "systemd-run --unit=clawfree-switch-{id} --wait --collect --quiet \
                         {path}/bin/switch-to-configuration test"
                .into(),
            boot_cmd: "nix-env --profile /nix/var/nix/profiles/system --set {path} \
                       && {path}/bin/switch-to-configuration boot"
                .into(),
            unit_check_cmd: "systemctl is-active --quiet {unit}".into(),
            watched_units: vec!["openclaw-gateway.service".into()],
            telegram_api: "https://api.telegram.org".into(),
            curl: "curl".into(),
            token_file: None,
            deadline: Duration::from_secs(300),
            current_system: PathBuf::from("/run/current-system"),
            cache_url: None,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            metadata_url: "http://metadata.google.internal".into(),
            root: PathBuf::from("/"),
            state_dir: PathBuf::from("/var/lib/openclaw"),
            host_key: PathBuf::from("/etc/ssh/ssh_host_ed25519_key"),
            health_url: "http://127.0.0.1:18789/health".into(),
            restart_cmd: "systemctl restart openclaw-gateway.service".into(),
            health_interval: Duration::from_secs(60),
            health_failures: 3,
            restart_backoff: Duration::from_secs(60),
            start_grace: Duration::from_secs(300),
            metadata_timeout: Duration::from_secs(10),
            gateway_credentials_dir: PathBuf::from("/run/credentials/openclaw-gateway.service"),
            declared: Declared::default(),
            rollout: RolloutOptions::default(),
            cache: CacheOptions::default(),
            github: GitHubOptions::default(),
        }
    }
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    Help,
    Run(Command, Box<Options>),
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Invocation, String> {
    let mut args = args.into_iter();
    let mut options = Options::default();
    let mut command = None;
    let mut propose = ProposeArgs::default();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" || arg == "help" {
            return Ok(Invocation::Help);
        }
        if matches!(command, Some(Command::Propose(_))) {
            if let Some((path, local)) = arg.split_once('=').filter(|_| !arg.starts_with("--")) {
                propose.files.push((path.to_string(), PathBuf::from(local)));
                continue;
            }
            if arg == "--title" || arg == "--body-file" {
                let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
                if arg == "--title" {
                    propose.title = value;
                } else {
                    propose.body_file = Some(PathBuf::from(value));
                }
                continue;
            }
        }
        if let Some(flag) = arg.strip_prefix("--") {
            let (name, inline) = match flag.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (flag.to_string(), None),
            };
            let value = match inline {
                Some(value) => value,
                None => args
                    .next()
                    .ok_or_else(|| format!("--{name} needs a value"))?,
            };
            set_flag(&mut options, &name, value)?;
            continue;
        }
        if command.is_some() {
            return Err(format!("unexpected argument {arg:?}"));
        }
        command = Some(match arg.as_str() {
            "setup" => Command::Setup,
            "watch-secrets" => Command::WatchSecrets,
            "health" => Command::Health,
            "rollouts" => Command::Rollouts,
            "run" => Command::Run,
            "serve-cache" => Command::ServeCache,
            "set-secret" => {
                let name = args
                    .next()
                    .ok_or("set-secret needs the secret's NAME (the value is read from stdin)")?;
                Command::SetSecret(SecretName::parse(&name)?)
            }
            "serve-set-secret" => Command::ServeSetSecret,
            "propose" => Command::Propose(ProposeArgs::default()),
            "serve-propose" => Command::ServePropose,
            other => return Err(format!("unknown command {other:?}")),
        });
    }
    let command = match command.ok_or("no command given")? {
        Command::Propose(_) => {
            if propose.title.trim().is_empty() || propose.files.is_empty() {
                return Err("propose needs --title and at least one PATH=LOCAL file".into());
            }
            Command::Propose(propose)
        }
        other => other,
    };
    Ok(Invocation::Run(command, Box::new(options)))
}

fn set_flag(options: &mut Options, name: &str, value: String) -> Result<(), String> {
    match name {
        "metadata-url" => options.metadata_url = http_url(name, &value)?,
        "root" => options.root = PathBuf::from(non_empty(name, value)?),
        "state-dir" => options.state_dir = absolute(name, value)?,
        "host-key" => options.host_key = absolute(name, value)?,
        "health-url" => options.health_url = http_url(name, &value)?,
        "restart-cmd" => options.restart_cmd = non_empty(name, value)?,
        "health-interval-secs" => options.health_interval = seconds(name, &value)?,
        "health-failures" => options.health_failures = positive(name, &value)? as u32,
        "restart-backoff-secs" => options.restart_backoff = seconds(name, &value)?,
        "start-grace-secs" => options.start_grace = seconds_or_zero(name, &value)?,
        "metadata-timeout-secs" => options.metadata_timeout = seconds(name, &value)?,
        "gateway-credentials-dir" => options.gateway_credentials_dir = absolute(name, value)?,
        "rollouts" => {
            options.rollout.enabled = match value.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(format!("--{name} is on or off")),
            }
        }
        "system-fetch-cmd" => options.rollout.fetch_cmd = non_empty(name, value)?,
        "system-switch-cmd" => options.rollout.switch_cmd = non_empty(name, value)?,
        "system-boot-cmd" => options.rollout.boot_cmd = non_empty(name, value)?,
        "unit-check-cmd" => options.rollout.unit_check_cmd = non_empty(name, value)?,
        "watched-units" => options.rollout.watched_units = unit_names(name, &value)?,
        "telegram-api" => options.rollout.telegram_api = web_url(name, &value)?,
        "curl" => options.rollout.curl = non_empty(name, value)?,
        "rollout-token-file" => options.rollout.token_file = Some(absolute(name, value)?),
        "rollout-deadline-secs" => options.rollout.deadline = seconds(name, &value)?,
        "current-system" => options.rollout.current_system = absolute(name, value)?,
        "system-cache-url" => options.rollout.cache_url = Some(http_url(name, &value)?),
        "cache-bucket" => {
            if !cache::is_bucket_name(&value) {
                return Err(format!("--{name} is not a Cloud Storage bucket name"));
            }
            options.cache.bucket = Some(value)
        }
        "cache-listen" => {
            let addr: std::net::SocketAddr = value
                .parse()
                .map_err(|_| format!("--{name} is an address and port, like 127.0.0.1:8091"))?;
            if !addr.ip().is_loopback() {
                return Err(format!(
                    "--{name} must be a loopback address: the cache is for this machine only"
                ));
            }
            options.cache.listen = addr
        }
        "storage-api" => options.cache.storage_api = web_url(name, &value)?,
        "github-repository" => {
            let valid = value.split_once('/').is_some_and(|(o, n)| {
                [o, n].iter().all(|p| {
                    !p.is_empty()
                        && *p != "."
                        && *p != ".."
                        && p.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                })
            });
            if !valid {
                return Err(format!("--{name} is owner/name"));
            }
            options.github.repository = Some(value)
        }
        "worker-url" => options.github.worker_url = Some(web_url(name, &value)?),
        "github-api" => options.github.api = web_url(name, &value)?,
        _ => return Err(format!("unknown flag --{name}")),
    }
    Ok(())
}

fn non_empty(name: &str, value: String) -> Result<String, String> {
    if value.trim().is_empty() {
        Err(format!("--{name} must not be empty"))
    } else {
        Ok(value)
    }
}

fn absolute(name: &str, value: String) -> Result<PathBuf, String> {
    let path = PathBuf::from(non_empty(name, value)?);
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(format!(
            "--{name} must be an absolute path (it is placed under --root)"
        ))
    }
}

/// The VM's endpoints are plain HTTP on the machine itself; the agent carries no TLS.
fn http_url(name: &str, value: &str) -> Result<String, String> {
    let rest = value
        .strip_prefix("http://")
        .ok_or_else(|| format!("--{name} must be an http:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("--{name} has no host"));
    }
    Ok(value.trim_end_matches('/').to_string())
}

/// Telegram is reached over HTTPS (through curl); tests point it at a local http:// one.
fn web_url(name: &str, value: &str) -> Result<String, String> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| format!("--{name} must be an http:// or https:// URL"))?;
    let safe = !rest.is_empty()
        && !rest.starts_with('/')
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '/' | '_'));
    if safe {
        Ok(value.trim_end_matches('/').to_string())
    } else {
        Err(format!("--{name} is not a plain URL"))
    }
}

/// systemd unit names, which are substituted into a shell command: only the characters
/// systemd allows in a name.
fn unit_names(name: &str, value: &str) -> Result<Vec<String>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|unit| !unit.is_empty())
        .map(|unit| {
            let ok = unit.len() <= 256
                && unit.contains('.')
                && !unit.starts_with('-')
                && unit
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '@'));
            if ok {
                Ok(unit.to_string())
            } else {
                Err(format!("--{name}: {unit:?} is not a systemd unit name"))
            }
        })
        .collect()
}

fn positive(name: &str, value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if (1..=u64::from(u32::MAX)).contains(&n) => Ok(n),
        _ => Err(format!("--{name} must be a whole number of at least 1")),
    }
}

fn seconds(name: &str, value: &str) -> Result<Duration, String> {
    positive(name, value).map(Duration::from_secs)
}

/// A length of time that may be nothing (a grace can be switched off).
fn seconds_or_zero(name: &str, value: &str) -> Result<Duration, String> {
    match value.parse::<u32>() {
        Ok(n) => Ok(Duration::from_secs(u64::from(n))),
        Err(_) => Err(format!("--{name} must be a whole number of seconds")),
    }
}

/// `path` placed under `root`: `/var/lib/openclaw` under `/tmp/t` is `/tmp/t/var/lib/openclaw`.
pub fn rooted(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Invocation, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_are_the_production_values() {
        let Invocation::Run(Command::Run, options) = parse_strs(&["run"]).unwrap() else {
            panic!("expected run")
        };
        assert_eq!(*options, Options::default());
        assert_eq!(options.health_failures, 3);
        assert_eq!(options.health_interval, Duration::from_secs(60));
    }

    #[test]
    fn flags_in_both_spellings() {
        let Invocation::Run(command, o) = parse_strs(&[
            "--root",
            "/tmp/r",
            "set-secret",
            "telegram-token",
            "--metadata-url=http://127.0.0.1:9/_vm/p/z/i/",
            "--health-interval-secs",
            "2",
            "--health-failures=5",
            "--gateway-credentials-dir",
            "/run/credentials/gw.service",
        ])
        .unwrap() else {
            panic!("expected a command")
        };
        assert_eq!(command, Command::SetSecret(SecretName::telegram_token()));
        assert_eq!(o.root, PathBuf::from("/tmp/r"));
        assert_eq!(o.metadata_url, "http://127.0.0.1:9/_vm/p/z/i");
        assert_eq!(o.health_interval, Duration::from_secs(2));
        assert_eq!(o.health_failures, 5);
        assert_eq!(
            o.gateway_credentials_dir,
            PathBuf::from("/run/credentials/gw.service")
        );
        assert_eq!(
            parse_strs(&["serve-set-secret"]).unwrap(),
            Invocation::Run(Command::ServeSetSecret, Box::default())
        );
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        for (args, expected) in [
            (vec![], "no command"),
            (vec!["launch"], "unknown command"),
            (vec!["run", "--colour", "x"], "unknown flag"),
            (vec!["run", "--root"], "needs a value"),
            (vec!["set-secret"], "NAME"),
            (vec!["set-secret", "../etc/passwd"], "secret names"),
            (vec!["run", "health"], "unexpected argument"),
        ] {
            let err = parse_strs(&args).unwrap_err();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
        // A value each flag refuses, where it enters.
        for (flag, value, expected) in [
            ("--state-dir", "var/lib", "absolute"),
            ("--gateway-credentials-dir", "creds", "absolute"),
            ("--metadata-url", "https://x", "http://"),
            ("--health-failures", "0", "at least 1"),
            ("--health-interval-secs", "soon", "at least 1"),
            ("--start-grace-secs", "-1", "whole number of seconds"),
            ("--rollouts", "yes", "on or off"),
            ("--watched-units", "a.service,$(reboot)", "unit name"),
            ("--telegram-api", "ftp://x", "http"),
            ("--telegram-api", "https://x/\"a", "plain URL"),
            ("--rollout-token-file", "t", "absolute"),
        ] {
            let err = parse_strs(&["run", flag, value]).unwrap_err();
            assert!(err.contains(expected), "{flag} {value}: {err}");
        }
        assert_eq!(parse_strs(&["--help"]).unwrap(), Invocation::Help);
    }

    #[test]
    fn rollout_flags() {
        let Invocation::Run(_, o) = parse_strs(&[
            "run",
            "--rollouts=on",
            "--watched-units",
            "openclaw-gateway.service, clawfree-provider.service",
            "--telegram-api",
            "http://127.0.0.1:9/",
            "--rollout-deadline-secs",
            "5",
        ])
        .unwrap() else {
            panic!("expected run")
        };
        assert!(o.rollout.enabled);
        assert_eq!(
            o.rollout.watched_units,
            ["openclaw-gateway.service", "clawfree-provider.service"]
        );
        assert_eq!(o.rollout.telegram_api, "http://127.0.0.1:9");
        assert_eq!(o.rollout.deadline, Duration::from_secs(5));
        assert!(!RolloutOptions::default().enabled);
        assert_eq!(
            parse_strs(&["rollouts"]).unwrap(),
            Invocation::Run(Command::Rollouts, Box::default())
        );
    }

    #[test]
    fn cache_flags() {
        let Invocation::Run(Command::ServeCache, o) = parse_strs(&[
            "serve-cache",
            "--cache-bucket",
            "claw-cache-1",
            "--cache-listen",
            "127.0.0.1:9000",
            "--storage-api",
            "http://127.0.0.1:8/",
        ])
        .unwrap() else {
            panic!("expected serve-cache")
        };
        assert_eq!(o.cache.bucket.as_deref(), Some("claw-cache-1"));
        assert_eq!(o.cache.listen.port(), 9000);
        assert_eq!(o.cache.storage_api, "http://127.0.0.1:8");
        for (args, says) in [
            (
                vec!["serve-cache", "--cache-bucket", "Bad/Name"],
                "bucket name",
            ),
            (
                vec!["serve-cache", "--cache-listen", "0.0.0.0:80"],
                "loopback",
            ),
            (
                vec!["serve-cache", "--cache-listen", "here"],
                "address and port",
            ),
            (vec!["run", "--system-cache-url", "https://x"], "http://"),
        ] {
            let err = parse_strs(&args).unwrap_err();
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }

    #[test]
    fn paths_go_under_the_root() {
        assert_eq!(
            rooted(Path::new("/tmp/t"), Path::new("/var/lib/openclaw")),
            PathBuf::from("/tmp/t/var/lib/openclaw")
        );
        assert_eq!(
            rooted(Path::new("/"), Path::new("/etc/ssh/k")),
            PathBuf::from("/etc/ssh/k")
        );
    }
}
