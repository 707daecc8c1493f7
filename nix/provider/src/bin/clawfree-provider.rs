//! `clawfree-provider`: the "claw.free Setup" model on 127.0.0.1:3456.
//!
//! ```text
//! clawfree-provider [--config PATH] [--listen ADDR] [--state-dir DIR] [--provider P]
//!                    [--metadata-url URL] [--claude PATH] [--codex PATH] [--openclaw PATH]
//!                    [--openclaw-config PATH] [--restart-gateway CMD] [--login-timeout-secs N] ...
//! ```
//! Prints `listening on http://ADDR` once it accepts requests; stops on SIGTERM/SIGINT,
//! killing any sign-in still running.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use claw_free_protocol::metadata::LLM_PROVIDER;
use claw_free_protocol::provider::Provider;
use claw_free_provider::config::Config;
use claw_free_provider::setup::Setup;
use claw_free_provider::{api, local_http};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
}

/// The provider picked on claw.free: from the configuration, else from the instance
/// metadata. Unknown is fine: the conversation then asks.
fn preferred_provider(config: &Config) -> Option<Provider> {
    if config.provider.is_some() {
        return config.provider;
    }
    let base = config.metadata_url.as_deref()?;
    let url = format!(
        "{}/computeMetadata/v1/instance/attributes/{LLM_PROVIDER}",
        base.trim_end_matches('/')
    );
    match local_http::get(
        &url,
        &[("Metadata-Flavor", "Google")],
        Duration::from_secs(3),
    ) {
        Ok(reply) if reply.status == 200 => match Provider::parse(reply.body.trim()) {
            Ok(provider) => Some(provider),
            Err(e) => {
                eprintln!("metadata {LLM_PROVIDER}: {e}; the conversation will ask");
                None
            }
        },
        Ok(reply) => {
            eprintln!(
                "metadata {LLM_PROVIDER}: HTTP {}; the conversation will ask",
                reply.status
            );
            None
        }
        Err(e) => {
            eprintln!("metadata {LLM_PROVIDER}: {e}; the conversation will ask");
            None
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, rest) = Config::from_args(&args)?;
    if let Some(extra) = rest.first() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    let listen = config.listen_address()?;
    let config = Arc::new(config);
    install_signal_handlers();
    let preferred = preferred_provider(&config);
    let setup = Setup::open(Arc::clone(&config), preferred)?;
    let server =
        tiny_http::Server::http(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let address = server
        .server_addr()
        .to_ip()
        .ok_or("the server has no IP address")?;
    println!("listening on http://{address}");
    eprintln!(
        "clawfree-provider: stage {}, provider {}",
        setup.stage_name(),
        preferred.map_or("unknown", Provider::as_str)
    );
    api::serve(&server, address, &setup, &STOP);
    setup.shutdown();
    eprintln!("clawfree-provider: stopped");
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("clawfree-provider: {e}");
        std::process::exit(1);
    }
}
