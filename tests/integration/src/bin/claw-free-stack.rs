//! `claw-free-stack`: runs the Google simulator and the Worker under `wrangler dev`
//! together, for the README's run command and the browser tests.
//!
//! `--json` prints one line `{"site": ..., "sim": ..., "githubApp": ...}` once both answer and stops when
//! stdin closes; otherwise it prints where to open the site and stops on Ctrl-C.
//! Either way SIGTERM stops it, and its children with it.

use claw_free_it::{Stack, StackOptions};
use std::io::Read;
use std::sync::mpsc;

const USAGE: &str = "usage: claw-free-stack [--site-port N] [--sim-port N] [--state-dir DIR] [--json] [--stand-in-agent] [--real-gateway] [--github] [--var NAME=VALUE]... [--sim-arg ARG]... [--verbose]";

fn main() {
    let mut options = StackOptions::default();
    let mut json = std::env::args().any(|a| a == "--json");
    if !json {
        // A person clicks through the simulator's consent page, at a pace they can follow.
        options.sim_args = ["--operation-step-ms", "1000", "--boot-step-ms", "1500"]
            .map(String::from)
            .to_vec();
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .unwrap_or_else(|| fail(&format!("{flag} needs a value")))
        };
        match arg.as_str() {
            "--site-port" => {
                options.site_port = value("--site-port")
                    .parse()
                    .unwrap_or_else(|_| fail("--site-port must be a port"))
            }
            "--sim-port" => {
                options.sim_port = value("--sim-port")
                    .parse()
                    .unwrap_or_else(|_| fail("--sim-port must be a port"))
            }
            "--state-dir" => options.state_dir = Some(value("--state-dir").into()),
            "--var" => {
                let pair = value("--var");
                let (name, v) = pair
                    .split_once('=')
                    .unwrap_or_else(|| fail("--var takes NAME=VALUE"));
                options.vars.insert(name.into(), v.into());
            }
            "--sim-arg" => {
                let v = value("--sim-arg");
                options.sim_args.push(v);
            }
            "--stand-in-agent" => options.real_agent = false,
            "--real-gateway" => options.real_gateway = true,
            "--github" => options.github = true,
            "--json" => json = true,
            "--verbose" => options.verbose = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other:?}")),
        }
    }
    let (stop, stopped) = mpsc::channel::<()>();
    let on_signal = stop.clone();
    ctrlc::set_handler(move || {
        let _ = on_signal.send(());
    })
    .unwrap_or_else(|e| fail(&format!("cannot watch signals: {e}")));
    let github = options.github;
    let stack = Stack::start(options);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "site": stack.site, "sim": stack.sim, "stateDir": stack.state_dir,
                // What a test posts to register the App again after resetting the simulator.
                "githubApp": github.then(|| claw_free_it::github_app::registration(&stack.site)),
            })
        );
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            let _ = stop.send(());
        });
    } else {
        println!("claw.free is running on the Google simulator:");
        println!("  site:      {}", stack.site);
        println!("  simulator: {} (admin API under /_admin/)", stack.sim);
        println!(
            "  Telegram:  {}/_chat (create a bot, then chat with it)",
            stack.sim
        );
        println!("  state:     {}", stack.state_dir.display());
        println!("Sign in as the simulated user Ada Lovelace; press Ctrl-C to stop.");
    }
    let _ = stopped.recv();
    drop(stack);
}

fn fail(message: &str) -> ! {
    eprintln!("claw-free-stack: {message}\n{USAGE}");
    std::process::exit(2);
}
