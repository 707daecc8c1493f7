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

    /// Runs the restart command through `sh -c` and waits for it. The command's own
    /// output goes to the agent's stderr (the console), never to its stdout, which for
    /// `serve-set-secret` is the caller's socket; it never receives a secret.
    pub fn restart(&self, why: &str) -> Result<(), String> {
        log::event("app", &format!("restarting the app: {why}"));
        let to_console = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null());
        let status = Command::new("/bin/sh")
            .arg("-c")
            .arg(&self.restart_cmd)
            .stdin(Stdio::null())
            .stdout(to_console)
            .stderr(Stdio::inherit())
            .status()
            .map_err(|e| format!("cannot run the restart command: {}", e.kind()))?;
        if status.success() {
            Ok(())
        } else {
            let err = format!("the restart command failed ({status})");
            log::event("app", &err);
            Err(err)
        }
    }
}
