//! The `clawfree` command behind the claw.free skill (nix/skill/SKILL.md), for the
//! bot's own OpenClaw agent to manage its VM: status, logs, restart, switch-llm,
//! secret set, update. Arguments are parsed into a [`Command`] that cannot name an
//! unknown service or an invalid secret; every external program comes from the
//! configuration.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use claw_free_protocol::metadata::SecretName;

use crate::agent_link;
use crate::children;
use crate::config::Config;
use crate::local_http;
use crate::system;

/// The largest secret `clawfree secret set` accepts on stdin.
const MAX_SECRET: usize = 16 * 1024;
const DEFAULT_LOG_LINES: u32 = 100;
const MAX_LOG_LINES: u32 = 2000;

pub const USAGE: &str = "\
usage: clawfree [--config PATH] <command>

commands:
  status                 services, memory, disk, system generation, health
  logs SERVICE [--lines N]
                         the journal tail of a service (default 100 lines)
  restart [SERVICE]      restart a service (default: the OpenClaw gateway)
  switch-llm             turn the claw.free Setup model back on to connect another provider
  secret set NAME        set or rotate a local secret; the value is read from stdin
  update                 switch to the newest CI-built system pushed to this VM
  propose --title T [--body-file F] PATH=LOCAL...
                         GitHub mode: propose a change to the bot's repository as a
                         pull request (each PATH in the repository gets the LOCAL
                         file's content); prints the pull request's URL

services: gateway, provider, or a unit name listed by `clawfree status`";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    Logs {
        unit: String,
        lines: u32,
    },
    Restart {
        unit: String,
    },
    SwitchLlm,
    SecretSet {
        name: SecretName,
    },
    /// `in_place`: switch here and now rather than through `update_service`.
    Update {
        in_place: bool,
    },
    Propose {
        title: String,
        body_file: Option<String>,
        /// `(path in the repository, local file)`.
        files: Vec<(String, String)>,
    },
    Help,
}

/// The systemd unit a user-given service name means, among the configured ones.
pub fn resolve_service(config: &Config, name: &str) -> Result<String, String> {
    let unit = match name {
        "gateway" | "openclaw" => config.gateway_service.clone(),
        "provider" | "setup" => config.provider_service.clone(),
        other if other.ends_with(".service") => other.to_string(),
        other => format!("{other}.service"),
    };
    let known = config.services.contains(&unit)
        || unit == config.gateway_service
        || unit == config.provider_service;
    if known {
        Ok(unit)
    } else {
        Err(format!(
            "unknown service {name:?}; known: gateway, provider, {}",
            config.services.join(", ")
        ))
    }
}

/// Parses the operands after the global flags.
pub fn parse(config: &Config, args: &[String]) -> Result<Command, String> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] | ["help"] | ["-h"] => Ok(Command::Help),
        ["status"] => Ok(Command::Status),
        ["logs", service, rest @ ..] => {
            let lines = match rest {
                [] => DEFAULT_LOG_LINES,
                ["-n" | "--lines", n] => n
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LOG_LINES).contains(n))
                    .ok_or_else(|| format!("the number of lines must be 1 to {MAX_LOG_LINES}"))?,
                _ => return Err("usage: clawfree logs SERVICE [--lines N]".into()),
            };
            Ok(Command::Logs {
                unit: resolve_service(config, service)?,
                lines,
            })
        }
        ["logs"] => Err("usage: clawfree logs SERVICE [--lines N]".into()),
        ["restart"] => Ok(Command::Restart {
            unit: config.gateway_service.clone(),
        }),
        ["restart", service] => Ok(Command::Restart {
            unit: resolve_service(config, service)?,
        }),
        ["switch-llm"] => Ok(Command::SwitchLlm),
        ["secret", "set", name] => Ok(Command::SecretSet {
            name: SecretName::parse(name)?,
        }),
        ["secret", ..] => Err("usage: clawfree secret set NAME  (the value on stdin)".into()),
        ["update"] => Ok(Command::Update { in_place: false }),
        ["update", "--in-place"] => Ok(Command::Update { in_place: true }),
        ["propose", rest @ ..] => parse_propose(rest),
        [other, ..] => Err(format!("unknown command {other:?}\n\n{USAGE}")),
    }
}

const PROPOSE_USAGE: &str =
    "usage: clawfree propose --title TITLE [--body-file FILE] PATH=LOCAL_FILE...";

fn parse_propose(words: &[&str]) -> Result<Command, String> {
    let (mut title, mut body_file, mut files) = (None, None, Vec::new());
    let mut words = words.iter();
    while let Some(word) = words.next() {
        match *word {
            "--title" => title = words.next().map(|t| t.to_string()),
            "--body-file" => body_file = words.next().map(|f| f.to_string()),
            other => match other.split_once('=') {
                Some((path, local)) if !path.is_empty() && !local.is_empty() => {
                    files.push((path.to_string(), local.to_string()))
                }
                _ => return Err(PROPOSE_USAGE.into()),
            },
        }
    }
    match title {
        Some(title) if !title.trim().is_empty() && !files.is_empty() => Ok(Command::Propose {
            title,
            body_file,
            files,
        }),
        _ => Err(PROPOSE_USAGE.into()),
    }
}

/// Reads the proposal's files (as the bot, so only what the bot may read) into the
/// agent's request.
fn propose(
    config: &Config,
    title: &str,
    body_file: Option<&str>,
    files: &[(String, String)],
) -> Result<String, String> {
    let socket = config.propose_socket.as_deref().ok_or(
        "this VM cannot propose changes: it is not linked to a GitHub repository (GitHub mode)",
    )?;
    let read = |path: &str| std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"));
    let body = match body_file {
        Some(path) => String::from_utf8(read(path)?).map_err(|_| format!("{path} is not text"))?,
        None => String::new(),
    };
    let mut encoded = serde_json::Map::new();
    for (path, local) in files {
        use base64::Engine;
        let content = base64::engine::general_purpose::STANDARD.encode(read(local)?);
        encoded.insert(path.clone(), serde_json::Value::String(content));
    }
    let request = serde_json::json!({ "title": title, "body": body, "files": encoded });
    let url = agent_link::propose(socket, request.to_string().as_bytes())?;
    Ok(format!("Opened the pull request {url}\nThe owner reviews and merges it on GitHub; nothing changes on this VM until they do."))
}

/// Runs a configured program and returns its output, or why it failed.
fn run_tool(
    program: &Path,
    args: &[&str],
    input: &[u8],
    timeout: Duration,
) -> Result<String, String> {
    let done = children::run(program, args, input, timeout)?;
    if done.status.success() {
        Ok(done.output)
    } else {
        Err(format!(
            "`{} {}` failed: {}",
            program.display(),
            args.join(" "),
            children::last_line(&done.output)
        ))
    }
}

const QUICK: Duration = Duration::from_secs(30);
/// How long `switch-llm` waits for the restarted Setup model to answer.
const PROVIDER_START_WAIT: Duration = Duration::from_secs(20);

/// Runs a command; returns what to print.
pub fn run(config: &Config, command: Command, stdin: &mut dyn Read) -> Result<String, String> {
    match command {
        Command::Help => Ok(USAGE.to_string()),
        Command::Status => Ok(status(config)),
        Command::Logs { unit, lines } => run_tool(
            &config.journalctl,
            &[
                "--unit",
                &unit,
                "--lines",
                &lines.to_string(),
                "--no-pager",
                "--output",
                "short-iso",
            ],
            b"",
            QUICK,
        ),
        Command::Restart { unit } => {
            // --no-block: restarting the gateway also ends the agent turn that asked
            // for it, so the job is queued and this command returns first.
            run_tool(
                &config.systemctl,
                &["restart", "--no-block", &unit],
                b"",
                QUICK,
            )?;
            Ok(format!("Restarting {unit}."))
        }
        Command::SwitchLlm => switch_llm(config),
        Command::SecretSet { name } => secret_set(config, &name, stdin),
        Command::Update { in_place: false } if config.update_service.is_some() => {
            let unit = config.update_service.as_deref().unwrap_or_default();
            run_tool(
                &config.systemctl,
                &["start", "--no-block", unit],
                b"",
                QUICK,
            )?;
            Ok(format!(
                "The update is running as {unit}. If the new system changes the bot, it restarts; `clawfree logs {unit}` shows how it went."
            ))
        }
        Command::Update { .. } => update(config),
        Command::Propose {
            title,
            body_file,
            files,
        } => propose(config, &title, body_file.as_deref(), &files),
    }
}

fn status(config: &Config) -> String {
    let mut out = String::from("services:\n");
    for unit in &config.services {
        let state = match children::run(&config.systemctl, &["is-active", unit], b"", QUICK) {
            Ok(done) => done.output.trim().to_string(),
            Err(e) => format!("unknown ({e})"),
        };
        out.push_str(&format!("  {unit:<34} {state}\n"));
    }
    match system::memory() {
        Ok(m) => {
            out.push_str(&format!(
                "memory: {} used of {} ({} available)",
                system::human_bytes((m.total - m.available) * 1024),
                system::human_bytes(m.total * 1024),
                system::human_bytes(m.available * 1024)
            ));
            if m.swap_total > 0 {
                out.push_str(&format!(
                    "; swap {} used of {}",
                    system::human_bytes((m.swap_total - m.swap_free) * 1024),
                    system::human_bytes(m.swap_total * 1024)
                ));
            }
            out.push('\n');
        }
        Err(e) => out.push_str(&format!("memory: unknown ({e})\n")),
    }
    match system::disk(&config.disk_path) {
        Ok(d) => out.push_str(&format!(
            "disk {}: {} free of {}\n",
            config.disk_path.display(),
            system::human_bytes(d.available),
            system::human_bytes(d.total)
        )),
        Err(e) => out.push_str(&format!("disk: unknown ({e})\n")),
    }
    let current = system::current_generation(&config.current_system, &config.system_profile);
    match &current {
        Ok(g) => out.push_str(&format!(
            "system: generation {} ({})\n",
            g.number.map_or("?".to_string(), |n| n.to_string()),
            g.store_path.display()
        )),
        Err(e) => out.push_str(&format!("system: unknown ({e})\n")),
    }
    if let (Ok(current), Ok(pushed)) = (&current, system::resolve(&config.pushed_system)) {
        if pushed != current.store_path {
            out.push_str(&format!(
                "update: a newer system was pushed ({}); `clawfree update` switches to it\n",
                pushed.display()
            ));
        } else {
            out.push_str("update: running the newest pushed system\n");
        }
    }
    out.push_str(&format!("gateway health: {}\n", probe(&config.health_url)));
    let setup_health = format!("http://{}/health", config.listen);
    match local_http::get(&setup_health, &[], Duration::from_secs(3)) {
        Ok(reply) if reply.status == 200 => {
            let stage = serde_json::from_str::<serde_json::Value>(&reply.body)
                .ok()
                .and_then(|v| v["stage"].as_str().map(String::from))
                .unwrap_or_else(|| "unknown".into());
            out.push_str(&format!("setup model: running, stage {stage}\n"));
        }
        _ => out.push_str("setup model: not running\n"),
    }
    out
}

fn probe(url: &str) -> String {
    match local_http::get(url, &[], Duration::from_secs(5)) {
        Ok(reply) if (200..300).contains(&reply.status) => format!("ok (HTTP {})", reply.status),
        Ok(reply) => format!("failing (HTTP {})", reply.status),
        Err(e) => format!("failing ({e})"),
    }
}

fn switch_llm(config: &Config) -> Result<String, String> {
    // This command runs as the gateway's user; the provider runs as root and owns
    // both OpenClaw's configuration and its stage. Make sure it runs, then ask it to
    // put the Setup model back and start the conversation over.
    run_tool(
        &config.systemctl,
        &["restart", &config.provider_service],
        b"",
        QUICK,
    )?;
    let reset = format!("http://{}/setup/reset", config.listen);
    let key = crate::access::client_key(config)
        .ok_or("cannot read the Setup model's API key from OpenClaw's configuration")?;
    let authorization = format!("Bearer {key}");
    let deadline = std::time::Instant::now() + PROVIDER_START_WAIT;
    loop {
        match local_http::post_empty(
            &reset,
            &[("Authorization", &authorization)],
            Duration::from_secs(5),
        ) {
            Ok(reply) if reply.status == 200 => break,
            Ok(reply) => {
                return Err(format!(
                    "the Setup model refused to reset (HTTP {}): {}",
                    reply.status, reply.body
                ))
            }
            Err(e) if std::time::Instant::now() >= deadline => {
                return Err(format!("the Setup model did not come up: {e}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    run_tool(
        &config.systemctl,
        &["restart", "--no-block", &config.gateway_service],
        b"",
        QUICK,
    )?;
    Ok("The claw.free Setup model is back on and the bot is restarting. In a minute, send the bot any message and it will walk you through connecting a provider.".into())
}

fn secret_set(config: &Config, name: &SecretName, stdin: &mut dyn Read) -> Result<String, String> {
    let mut value = Vec::new();
    stdin
        .take(MAX_SECRET as u64 + 1)
        .read_to_end(&mut value)
        .map_err(|e| format!("cannot read the secret from stdin: {e}"))?;
    if value.len() > MAX_SECRET {
        value.fill(0);
        return Err(format!("the secret is longer than {MAX_SECRET} bytes"));
    }
    while value.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        value.pop();
    }
    if value.is_empty() {
        return Err("no secret on stdin: pipe the value in, for example `printf %s \"$VALUE\" | clawfree secret set NAME`".into());
    }
    let result = agent_link::set_secret(config, name, &value);
    let secret = String::from_utf8_lossy(&value).into_owned();
    value.fill(0);
    // The agent never repeats a value, but an error is shown to the bot: make sure.
    let result = result.map_err(|reason| reason.replace(&secret, "[redacted]"));
    secret.into_bytes().fill(0);
    match result {
        Ok(()) => Ok(format!("Secret {} saved on this VM.", name.as_str())),
        Err(reason) => Err(format!(
            "the agent could not save secret {}: {reason}",
            name.as_str()
        )),
    }
}

fn update(config: &Config) -> Result<String, String> {
    let Ok(pushed) = system::resolve(&config.pushed_system) else {
        return Ok(format!(
            "No CI-built system has been pushed to this VM yet ({} does not exist).",
            config.pushed_system.display()
        ));
    };
    let current = system::resolve(&config.current_system)?;
    if pushed == current {
        return Ok(format!(
            "Already running the newest pushed system ({}).",
            current.display()
        ));
    }
    let switch = pushed.join("bin/switch-to-configuration");
    if !switch.exists() {
        return Err(format!(
            "{} is not a NixOS system (no bin/switch-to-configuration)",
            pushed.display()
        ));
    }
    let pushed_str = pushed.display().to_string();
    let profile = config.system_profile.display().to_string();
    let long = Duration::from_secs(600);
    run_tool(
        &config.nix_env,
        &["--profile", &profile, "--set", &pushed_str],
        b"",
        long,
    )?;
    run_tool(&switch, &["switch"], b"", long)?;
    Ok(format!(
        "Switched to {pushed_str}. Services whose configuration changed were restarted."
    ))
}
