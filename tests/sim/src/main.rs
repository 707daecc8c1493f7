//! `claw-free-sim`: parses flags, starts the simulator, prints
//! `listening on http://127.0.0.1:N`, and stops its agents on SIGINT/SIGTERM.

use claw_free_sim::{start, Options};
use std::path::PathBuf;

const USAGE: &str = "usage: claw-free-sim [--port N] [--agent PATH] [--state-dir DIR] \
[--client-id ID] [--client-secret SECRET] [--auto-approve] [--token-ttl-secs N] \
[--operation-step-ms N] [--boot-step-ms N] [--agent-boot-delay-ms N] \
[--openclaw PATH --setup-model PATH]";

fn parse(args: Vec<String>) -> Result<(Options, bool), String> {
    let mut opts = Options::new(PathBuf::new());
    let mut state_dir = None;
    let (mut openclaw, mut setup_model) = (None::<String>, None::<String>);
    let mut iter = args.into_iter();
    let number = |flag: &str, value: Option<String>| -> Result<u64, String> {
        let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
        value
            .parse()
            .map_err(|_| format!("{flag} must be a whole number, not {value:?}"))
    };
    while let Some(flag) = iter.next() {
        match flag.as_str() {
            "--port" => {
                let port = number("--port", iter.next())?;
                opts.port = u16::try_from(port)
                    .map_err(|_| "--port must be from 0 to 65535".to_string())?;
            }
            "--agent" => opts.agent = Some(iter.next().ok_or("--agent needs a path")?.into()),
            "--openclaw" => openclaw = Some(iter.next().ok_or("--openclaw needs a path")?),
            "--setup-model" => setup_model = Some(iter.next().ok_or("--setup-model needs a path")?),
            "--state-dir" => {
                state_dir = Some(PathBuf::from(
                    iter.next().ok_or("--state-dir needs a folder")?,
                ))
            }
            "--client-id" => opts.client_id = iter.next().ok_or("--client-id needs a value")?,
            "--client-secret" => {
                opts.client_secret = iter.next().ok_or("--client-secret needs a value")?
            }
            "--auto-approve" => opts.config.auto_approve = true,
            "--token-ttl-secs" => {
                opts.config.token_ttl_secs = number("--token-ttl-secs", iter.next())?.max(1)
            }
            "--operation-step-ms" => {
                opts.config.operation_step_ms = number("--operation-step-ms", iter.next())?
            }
            "--boot-step-ms" => opts.config.boot_step_ms = number("--boot-step-ms", iter.next())?,
            "--agent-boot-delay-ms" => {
                opts.config.agent_boot_delay_ms = number("--agent-boot-delay-ms", iter.next())?
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    opts.app = match (openclaw, setup_model) {
        (Some(openclaw), Some(setup_model)) => Some(claw_free_sim::gateway::AppPrograms {
            openclaw: openclaw.into(),
            setup_model: setup_model.into(),
        }),
        (None, None) => None,
        _ => return Err("--openclaw and --setup-model go together".into()),
    };
    let temporary = state_dir.is_none();
    opts.state_dir = state_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("claw-free-sim-{}", std::process::id()))
    });
    Ok((opts, temporary))
}

#[tokio::main]
async fn main() {
    let (opts, temporary) = match parse(std::env::args().skip(1).collect()) {
        Ok(parsed) => parsed,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("claw-free-sim: {message}");
            }
            eprintln!("{USAGE}");
            std::process::exit(if message.is_empty() { 0 } else { 2 });
        }
    };
    let state_dir = opts.state_dir.clone();
    let server = match start(opts).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("claw-free-sim: cannot start: {e}");
            if temporary {
                let _ = std::fs::remove_dir_all(&state_dir);
            }
            std::process::exit(1);
        }
    };
    println!("listening on {}", server.url());
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("claw-free-sim: cannot watch SIGTERM: {e}");
            std::process::exit(1);
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    server.shutdown().await;
    if temporary {
        let _ = std::fs::remove_dir_all(state_dir);
    }
}
