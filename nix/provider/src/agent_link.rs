//! How `clawfree secret set` hands a secret to the VM agent, the one program that
//! writes the root-only secrets: through the socket of the agent's root service
//! (`clawfree-agent serve-set-secret`, which systemd starts for each connection) when
//! `agent_socket` is configured, as on the VM, where the skill runs as the gateway's
//! unprivileged user; otherwise by running `clawfree-agent set-secret NAME` (a root
//! shell, a VM without the socket). Either way the value travels only on the socket or
//! a pipe, never in an argument.
//!
//! The socket's protocol: the name, a line break, the value; the end of input (a
//! half-close) ends the request; the agent answers one line, `ok` or `error: REASON`.
//!
//! `clawfree propose` likewise hands a pull request to the agent's root service
//! `serve-propose` (only root may fetch the VM's identity token, and the GitHub token
//! it buys stays there): one JSON object, a half-close, and `ok URL` or
//! `error: REASON`.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use claw_free_protocol::metadata::SecretName;

use crate::children;
use crate::config::Config;

/// How long sending the request may stall.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The agent answers after it has stored the secret and restarted the gateway.
const ANSWER_WAIT: Duration = Duration::from_secs(120);
/// How long the agent run as a command may take (it restarts the gateway too).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// An answer is one short line; anything longer is cut.
const MAX_ANSWER: u64 = 4096;

/// Stores `value` as secret `name` through the agent. The error is the agent's reason;
/// the caller keeps the value out of what it shows.
pub fn set_secret(config: &Config, name: &SecretName, value: &[u8]) -> Result<(), String> {
    match &config.agent_socket {
        Some(socket) => through_socket(socket, name, value),
        None => through_command(&config.agent, name, value),
    }
}

fn through_socket(socket: &Path, name: &SecretName, value: &[u8]) -> Result<(), String> {
    let mut request = format!("{}\n", name.as_str()).into_bytes();
    request.extend_from_slice(value);
    let answer = exchange(socket, &request, ANSWER_WAIT, "the secret")?;
    parse_answer(&answer)
}

/// Sends `request` (`what`, for an error) over the agent's socket, closes the sending
/// half and reads the agent's answer, waiting up to `wait` for it.
fn exchange(socket: &Path, request: &[u8], wait: Duration, what: &str) -> Result<Vec<u8>, String> {
    let mut stream = UnixStream::connect(socket)
        .map_err(|e| format!("cannot reach the agent at {}: {e}", socket.display()))?;
    stream
        .set_write_timeout(Some(SEND_TIMEOUT))
        .and_then(|()| stream.set_read_timeout(Some(wait)))
        .map_err(|e| format!("cannot set up the agent's socket: {e}"))?;
    let sent = stream
        .write_all(request)
        .and_then(|()| stream.shutdown(Shutdown::Write));
    let mut answer = Vec::new();
    let received = (&mut stream).take(MAX_ANSWER).read_to_end(&mut answer);
    match (sent, received) {
        // An agent that refused early may have stopped reading: its answer says why.
        (_, Ok(_)) if !answer.is_empty() => Ok(answer),
        (Err(e), _) => Err(format!("cannot send {what} to the agent: {e}")),
        (Ok(()), Err(e)) => Err(format!("no answer from the agent: {e}")),
        (Ok(()), Ok(_)) => Ok(answer),
    }
}

/// How long opening a pull request may take (claw.free, then a few GitHub calls).
const PROPOSE_WAIT: Duration = Duration::from_secs(180);

/// Sends a proposal (`{title, body, files: {path: base64}}`) to the agent's socket;
/// the pull request's URL.
pub fn propose(socket: &Path, request: &[u8]) -> Result<String, String> {
    let answer = exchange(socket, request, PROPOSE_WAIT, "the proposal")?;
    parse_proposed(&answer)
}

/// `ok URL` or `error: REASON`.
pub fn parse_proposed(answer: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(answer);
    let line = text.lines().next().unwrap_or("").trim_end();
    if let Some(url) = line
        .strip_prefix("ok ")
        .filter(|u| u.starts_with("https://"))
    {
        return Ok(url.to_string());
    }
    match line.strip_prefix("error: ") {
        Some(reason) => Err(reason.to_string()),
        None if line.is_empty() => Err("the agent closed the connection without an answer (its journal, `journalctl -u 'clawfree-propose@*'`, says why)".into()),
        None => Err("the agent's answer is neither ok nor an error".into()),
    }
}

/// The agent's one-line answer.
pub fn parse_answer(answer: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(answer);
    let line = text.lines().next().unwrap_or("").trim_end();
    match line {
        "ok" => Ok(()),
        "" => Err("the agent closed the connection without an answer (its journal, `journalctl -u 'clawfree-set-secret@*'`, says why)".into()),
        _ => match line.strip_prefix("error: ") {
            Some(reason) => Err(reason.to_string()),
            None => Err("the agent's answer is neither ok nor an error".into()),
        },
    }
}

fn through_command(agent: &Path, name: &SecretName, value: &[u8]) -> Result<(), String> {
    let done = children::run(
        agent,
        &["set-secret", name.as_str()],
        value,
        COMMAND_TIMEOUT,
    )?;
    if done.status.success() {
        Ok(())
    } else {
        Err(children::last_line(&done.output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposal_answers() {
        assert_eq!(
            parse_proposed(b"ok https://github.com/a/b/pull/1\n"),
            Ok("https://github.com/a/b/pull/1".into())
        );
        assert_eq!(
            parse_proposed(b"error: claw.free gave no GitHub token\n"),
            Err("claw.free gave no GitHub token".into())
        );
        assert!(parse_proposed(b"")
            .unwrap_err()
            .contains("clawfree-propose@"));
        // Only a URL is passed on as one; anything else is not an answer.
        assert!(parse_proposed(b"ok javascript:alert(1)").is_err());
        assert!(parse_proposed(b"okay").is_err());
    }

    #[test]
    fn answers() {
        assert_eq!(parse_answer(b"ok\n"), Ok(()));
        assert_eq!(parse_answer(b"ok"), Ok(()));
        assert_eq!(
            parse_answer(b"error: the secret is empty\n"),
            Err("the secret is empty".into())
        );
        assert!(parse_answer(b"").unwrap_err().contains("without an answer"));
        assert!(parse_answer(b"okay\n").unwrap_err().contains("neither"));
    }

    #[test]
    fn a_missing_socket_is_a_clear_error() {
        let config = Config {
            agent_socket: Some("/nonexistent/clawfree/set-secret.sock".into()),
            ..Config::default()
        };
        let err = set_secret(&config, &SecretName::telegram_token(), b"v").unwrap_err();
        assert!(
            err.contains("cannot reach the agent at /nonexistent"),
            "{err}"
        );
    }

    #[test]
    fn a_request_is_the_name_line_then_the_value_then_end_of_input() {
        let dir = std::env::temp_dir().join(format!("cfp-agent-link-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut connection, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            connection.read_to_end(&mut request).unwrap();
            connection
                .write_all(b"error: refused for the test\n")
                .unwrap();
            request
        });
        let err = through_socket(&path, &SecretName::telegram_token(), b"123:abc").unwrap_err();
        assert_eq!(err, "refused for the test");
        assert_eq!(server.join().unwrap(), b"telegram-token\n123:abc");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
