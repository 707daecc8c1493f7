//! curl, as the agent runs it for HTTPS (it carries no TLS of its own): the URL, any
//! secret header and any body go in through curl's `--config -` on stdin, never its
//! arguments, where every user on the VM could read them in the process list.

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

/// A value in curl's config file: double-quoted, with `\\`, `"` and line breaks escaped.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One HTTP exchange: `method` to `url` with `headers` (secrets welcome: they travel in
/// the config on stdin) and an optional JSON body; the status and the answer's body.
pub fn exchange(
    curl: &str,
    max_time_secs: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    json_body: Option<&str>,
) -> Result<(u16, String), String> {
    let mut config = format!("url = {}\nrequest = {}\n", quote(url), quote(method));
    for (name, value) in headers {
        config.push_str(&format!(
            "header = {}\n",
            quote(&format!("{name}: {value}"))
        ));
    }
    if let Some(body) = json_body {
        config.push_str("header = \"Content-Type: application/json\"\n");
        config.push_str(&format!("data-binary = {}\n", quote(body)));
    }
    let child = spawn(
        curl,
        max_time_secs,
        &["--write-out", "\n%{http_code}"],
        &config,
    )
    .map_err(|e| format!("cannot run curl ({})", e.kind()))?;
    let output = child
        .wait_with_output()
        .map_err(|e| format!("curl failed ({})", e.kind()))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    match status.trim().parse::<u16>() {
        Ok(status) if status > 0 => Ok((status, body.to_string())),
        _ => Err(format!(
            "{} could not be reached (curl {})",
            host_of(url),
            output.status
        )),
    }
}

/// The host of a URL, for messages (never its path or query).
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_quoted() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(
            host_of("https://api.github.com/repos/a/b?x"),
            "api.github.com"
        );
    }
}
