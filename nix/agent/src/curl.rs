//! curl, as the agent runs it for HTTPS (it carries no TLS of its own): the URL and any
//! secret header go in through curl's `--config -` on stdin, never its arguments, where
//! every user on the VM could read them in the process list.

use std::io::{self, Write};
use std::process::{Child, Command, Stdio};

/// Starts `curl` with `args` after the common ones, hands it `config` on stdin and closes
/// it; the caller reads stdout. curl's own errors are dropped: callers word theirs.
pub fn spawn(curl: &str, max_time_secs: &str, args: &[&str], config: &str) -> io::Result<Child> {
    let mut child = Command::new(curl)
        .args([
            "--silent",
            "--show-error",
            "--max-time",
            max_time_secs,
            "--noproxy",
            "127.0.0.1,localhost",
        ])
        .args(args)
        .args(["--config", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let _ = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(config.as_bytes());
    Ok(child)
}
