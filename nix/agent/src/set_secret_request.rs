//! `serve-set-secret`: `set-secret` for a caller that is not root. systemd's socket
//! (`Accept=yes`) hands one connection to one run of the agent as its stdin and
//! stdout; the request is the secret's name on the first line and its value after it,
//! up to the end of the input; the answer is one line, `ok` or `error: <reason>`.
//! The bot's own agent (`clawfree secret set`, running as the gateway's user) reaches
//! the root-only secrets this way, without setuid or sudo.
//!
//! The value is never logged or echoed, not even in an error: a caller that forgot
//! the name line would otherwise see its secret quoted back as a "bad name".

use std::io::{Read, Write};

use claw_free_protocol::metadata::SecretName;

use crate::app::App;
use crate::log;
use crate::paths::Paths;
use crate::secrets::{self, MAX_SECRET_VALUE};

/// The longest first line accepted (a name is at most 32 bytes; room for a `\r`).
const MAX_NAME_LINE: usize = 64;
/// The largest request: the name line, its line break, the value and its line break.
const MAX_REQUEST: usize = MAX_NAME_LINE + 1 + MAX_SECRET_VALUE + 2;

/// A checked request. The value is zeroed when the request is dropped.
#[derive(PartialEq, Eq)]
pub struct Request {
    pub name: SecretName,
    value: Vec<u8>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Request {{ name: {}, value: [redacted] }}", self.name)
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        self.value.fill(0);
    }
}

impl Request {
    /// Parses the bytes of a whole request (at most `MAX_REQUEST + 1` of them).
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_REQUEST {
            return Err(format!(
                "the secret is longer than {MAX_SECRET_VALUE} bytes"
            ));
        }
        let Some(end) = bytes
            .iter()
            .take(MAX_NAME_LINE + 1)
            .position(|&b| b == b'\n')
        else {
            return Err(
                "the request must start with the secret's name on a line of its own".to_string(),
            );
        };
        let line = &bytes[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let name = std::str::from_utf8(line)
            .ok()
            .and_then(|line| SecretName::parse(line).ok())
            .ok_or(
                "the first line is not a secret name (1 to 32 lowercase letters, digits or '-', starting with a letter)",
            )?;
        let value = secrets::value_from_bytes(bytes[end + 1..].to_vec())?;
        Ok(Self { name, value })
    }
}

/// Serves one request from `input`, answers on `output`. Returns the failure, if any,
/// after it has been answered, so the exit status reflects it too.
pub fn serve(
    paths: &Paths,
    app: &App,
    input: impl Read,
    mut output: impl Write,
) -> Result<(), String> {
    let result = secrets::read_bounded(input, MAX_REQUEST).and_then(|mut bytes| {
        let request = Request::parse(&bytes);
        bytes.fill(0);
        let mut request = request?;
        let value = std::mem::take(&mut request.value);
        secrets::apply_locally(paths, app, &request.name, value)
    });
    let answer = match &result {
        Ok(()) => "ok\n".to_string(),
        Err(reason) => {
            log::event("serve-set-secret", &format!("refused: {reason}"));
            format!("error: {}\n", log::one_line(reason))
        }
    };
    // The caller may be gone (restarting the gateway ends the skill that asked); the
    // secret is stored all the same, so a lost answer is only worth a log line.
    if let Err(e) = output
        .write_all(answer.as_bytes())
        .and_then(|()| output.flush())
    {
        log::event(
            "serve-set-secret",
            &format!("cannot answer the caller: {}", e.kind()),
        );
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Request, String> {
        Request::parse(bytes)
    }

    #[test]
    fn a_request_is_a_name_line_then_the_value() {
        let request = parse(b"telegram-token\n123:abc\n").unwrap();
        assert_eq!(request.name, SecretName::telegram_token());
        assert_eq!(request.value, b"123:abc");
        let request = parse(b"openai-key\r\nsk-x").unwrap();
        assert_eq!(request.name.as_str(), "openai-key");
        assert_eq!(request.value, b"sk-x");
        // Line breaks inside a value are kept; only one final one is dropped.
        assert_eq!(parse(b"pem\na\nb\n\n").unwrap().value, b"a\nb\n");
        assert!(!format!("{:?}", parse(b"k\nhidden").unwrap()).contains("hidden"));
    }

    #[test]
    fn bad_requests_are_refused_without_quoting_them() {
        for (bytes, expected) in [
            (
                &b"123:SECRET-VALUE-WITHOUT-NAME"[..],
                "on a line of its own",
            ),
            (b"Bad/Name\nvalue", "not a secret name"),
            (b"../../etc/passwd\nvalue", "not a secret name"),
            (b"123:SECRET-VALUE\nvalue", "not a secret name"),
            (b"\xff\xfe\nvalue", "not a secret name"),
            (b"telegram-token\n", "empty"),
            (b"telegram-token\n\n", "empty"),
            (b"", "on a line of its own"),
        ] {
            let err = parse(bytes).unwrap_err();
            assert!(err.contains(expected), "{bytes:?}: {err}");
            assert!(!err.contains("SECRET-VALUE"), "{err}");
        }
        let long_name = [vec![b'a'; MAX_NAME_LINE + 1], b"\nvalue".to_vec()].concat();
        assert!(parse(&long_name).unwrap_err().contains("line of its own"));
    }

    #[test]
    fn the_value_is_bounded() {
        let fits = [&b"k\n"[..], &vec![b'x'; MAX_SECRET_VALUE], b"\n"].concat();
        assert_eq!(parse(&fits).unwrap().value.len(), MAX_SECRET_VALUE);
        let over = [&b"k\n"[..], &vec![b'x'; MAX_SECRET_VALUE + 1]].concat();
        assert!(parse(&over).unwrap_err().contains("longer than"));
        let far_over = vec![b'x'; MAX_REQUEST + 1];
        assert!(parse(&far_over).unwrap_err().contains("longer than"));
    }
}
