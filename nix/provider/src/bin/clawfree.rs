//! `clawfree`: the commands behind the claw.free skill, for the bot's own agent.
//! See `clawfree help` and nix/skill/SKILL.md.

use claw_free_provider::config::Config;
use claw_free_provider::skill;

fn run() -> Result<String, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, rest) = Config::from_args(&args)?;
    let command = skill::parse(&config, &rest)?;
    skill::run(&config, command, &mut std::io::stdin())
}

fn main() {
    match run() {
        Ok(output) => println!("{}", output.trim_end()),
        Err(e) => {
            eprintln!("clawfree: {e}");
            std::process::exit(1);
        }
    }
}
