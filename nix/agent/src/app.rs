//! The app (OpenClaw's gateway) as the agent controls it: restarting it with the
//! configured command.

use std::os::fd::AsFd;
use std::process::{Command, Stdio};

use crate::log;

#[derive(Debug, Clone)]
pub struct App {
    restart_cmd: String,
}

impl App {
    pub fn new(restart_cmd: &str) -> Self {
        Self {
            restart_cmd: restart_cmd.to_string(),
        }
    }

    /// Runs the restart command and waits for it; it never receives a secret.
    pub fn restart(&self, why: &str) -> Result<(), String> {
        log::event("app", &format!("restarting the app: {why}"));
        shell(&self.restart_cmd).map_err(|failure| {
            let err = match failure {
                ShellFailure::NotRun(kind) => format!("cannot run the restart command: {kind}"),
                ShellFailure::Failed(how) => format!("the restart command failed ({how})"),
            };
            log::event("app", &err);
            err
        })
    }
}

/// Why a shell command did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellFailure {
    /// It could not be started (the error's kind).
    NotRun(String),
    /// It ran and failed: its exit status, or the signal that ended it.
    Failed(String),
}

impl std::fmt::Display for ShellFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotRun(kind) => write!(f, "cannot run it: {kind}"),
            Self::Failed(how) => f.write_str(how),
        }
    }
}

/// Runs `command` through `sh -c` and waits for it. Its output goes to the agent's
/// stderr (the console), never to its stdout, which for `serve-set-secret` is the
/// caller's socket.
pub fn shell(command: &str) -> Result<(), ShellFailure> {
    let to_console = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(to_console)
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| ShellFailure::NotRun(e.kind().to_string()))?;
    if status.success() {
        Ok(())
    } else {
        Err(ShellFailure::Failed(match status.code() {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_string(),
        }))
    }
}
