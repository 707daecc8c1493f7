//! `clawfree-agent`: the claw.free agent on the bot's VM. It turns instance metadata
//! into OpenClaw's configuration, receives secrets encrypted to the VM's host key,
//! and reports readiness and health through guest attributes (see docs/CONTRACTS.md §3).

mod app;
mod bot_settings;
mod cache;
mod cli;
mod context;
mod curl;
mod declared;
mod fault;
mod fsutil;
mod health;
mod host_key;
mod log;
mod metadata;
mod openclaw_config;
mod owner;
mod paths;
mod propose;
mod provider_key;
mod rollout;
mod rollout_runner;
mod secrets;
mod set_secret_request;
mod setup;
mod watcher;

use std::process::ExitCode;
use std::sync::{mpsc, Arc};
use std::thread;

use cli::{Command, Invocation};
use context::Context;

fn main() -> ExitCode {
    let (command, mut options) = match cli::parse(std::env::args().skip(1)) {
        Ok(Invocation::Run(command, options)) => (command, options),
        Ok(Invocation::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("clawfree-agent: {message}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    options.declared = match declared::Declared::from_env(|name| std::env::var(name).ok()) {
        Ok(declared) => declared,
        Err(message) => {
            eprintln!("clawfree-agent: {message}");
            return ExitCode::from(2);
        }
    };
    let ctx = Context::new(*options);
    let result = match command {
        Command::Setup => setup::run(&ctx),
        Command::WatchSecrets => watcher::run(&ctx),
        Command::Health => health::run(&ctx),
        Command::Rollouts => rollout_runner::run(&ctx),
        Command::Run => run_all(ctx),
        Command::ServeCache => cache::serve(&ctx),
        Command::SetSecret(name) => {
            secrets::set_locally(&ctx.paths, &ctx.app, &name, std::io::stdin().lock())
        }
        Command::ServeSetSecret => set_secret_request::serve(
            &ctx.paths,
            &ctx.app,
            std::io::stdin().lock(),
            std::io::stdout().lock(),
        ),
        Command::Propose(args) => propose_from_files(&ctx, &args),
        Command::ServePropose => propose::serve(
            &proposer(&ctx),
            std::io::stdin().lock(),
            std::io::stdout().lock(),
            now_secs(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log::event("agent", &format!("stopped: {message}"));
            ExitCode::FAILURE
        }
    }
}

fn proposer(ctx: &Context) -> propose::Proposer<'_> {
    propose::Proposer {
        options: &ctx.options.github,
        metadata: &ctx.metadata,
        curl: &ctx.options.rollout.curl,
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `propose`: the files read here (as root), the pull request's URL on stdout.
fn propose_from_files(ctx: &Context, args: &cli::ProposeArgs) -> Result<(), String> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let body = match &args.body_file {
        Some(path) => {
            String::from_utf8(read(path)?).map_err(|_| format!("{} is not text", path.display()))?
        }
        None => String::new(),
    };
    let mut files = Vec::new();
    for (path, local) in &args.files {
        files.push((path.clone(), read(local)?));
    }
    let proposal = propose::Proposal::new(&args.title, &body, files)?;
    let url = proposer(ctx).propose(&proposal, now_secs())?;
    println!("{url}");
    Ok(())
}

/// Setup, then the watcher and the health reporter side by side (and in GitHub mode the
/// rollouts). All run forever; whichever stops first stops the agent, so its supervisor
/// starts it again.
fn run_all(ctx: Context) -> Result<(), String> {
    setup::run(&ctx)?;
    let ctx = Arc::new(ctx);
    let (done, first_to_stop) = mpsc::channel();
    let mut parts = vec![
        watcher::run as fn(&Context) -> Result<(), String>,
        health::run,
    ];
    if ctx.options.rollout.enabled {
        parts.push(rollout_runner::run);
    }
    for part in parts {
        let (ctx, done) = (Arc::clone(&ctx), done.clone());
        thread::spawn(move || {
            let _ = done.send(part(&ctx));
        });
    }
    match first_to_stop.recv() {
        Ok(Err(message)) => Err(message),
        Ok(Ok(())) => Err("a worker stopped unexpectedly".to_string()),
        Err(_) => Err("a worker thread panicked".to_string()),
    }
}
