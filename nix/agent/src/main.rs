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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log::event("agent", &format!("stopped: {message}"));
            ExitCode::FAILURE
        }
    }
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
