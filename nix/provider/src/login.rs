//! Subscription sign-ins through the providers' own CLIs: `claude setup-token` (prints
//! a link, reads the code the user pastes back, prints a long-lived token) and
//! `codex login --device-auth` (prints a link and a one-time code, exits once the user
//! has entered the code; Codex keeps the login itself). Turns their output into the
//! conversation's events; the link and code parsers are pure and unit-tested.

use std::path::Path;
use std::time::Duration;

use claw_free_protocol::provider::Provider;

use crate::children::{last_line, strip_ansi, Child, RunAs};
use crate::conversation::Event;
use crate::keys::{self, Credential, CredentialKind, Secret};

/// Paths and waits for a sign-in.
#[derive(Debug, Clone)]
pub struct LoginSettings<'a> {
    pub claude: &'a Path,
    pub codex: &'a Path,
    /// The user the CLIs run as.
    pub run_as: Option<RunAs>,
    /// The sign-in's whole lifetime; its processes are killed after it.
    pub timeout: Duration,
    /// How long to wait for the link.
    pub output_wait: Duration,
    /// How long `claude setup-token` may take after receiving the code.
    pub code_wait: Duration,
}

/// A running sign-in.
pub struct Login {
    provider: Provider,
    child: Child,
}

impl Login {
    /// Starts the sign-in of `provider` and waits for its link. Returns the login and
    /// the event to step (`LoginStarted`, or `LoginNotStarted` with no login).
    pub fn start(provider: Provider, settings: &LoginSettings<'_>) -> (Option<Self>, Event) {
        let facts = provider.facts();
        // The CLI's path is the image's to choose; its arguments are the provider's.
        let program: Option<&Path> = match provider {
            Provider::Claude => Some(settings.claude),
            Provider::Openai => Some(settings.codex),
            Provider::Kimi => None,
        };
        let (Some(program), Some(subscription)) = (program, &facts.subscription) else {
            return (
                None,
                Event::LoginNotStarted {
                    reason: format!(
                        "{} has no subscription sign-in; it uses an API key starting with {}",
                        facts.display_name, facts.key_prefix
                    ),
                },
            );
        };
        let args = subscription.login_args;
        let child = match Child::spawn_as(program, args, settings.timeout, settings.run_as) {
            Ok(child) => child,
            Err(e) => {
                return (
                    None,
                    Event::LoginNotStarted {
                        reason: format!("{} could not be run ({e})", program.display()),
                    },
                )
            }
        };
        let wants_code = provider == Provider::Openai;
        let parse = |text: &str, whole: bool| {
            let url = match scan_url(text)? {
                Link::Whole(url) => url,
                Link::MaybeContinued(url) if !whole => url,
                Link::MaybeContinued(_) => return None,
            };
            if wants_code {
                Some((url, Some(find_device_code(text)?)))
            } else {
                Some((url, None))
            }
        };
        // A long link arrives wrapped over several lines, in several writes, as fast
        // or as slowly as the machine goes: it is taken once something that is not
        // link follows it (both CLIs print a blank line). A CLI that ends, or prints
        // nothing more before the wait is over, leaves what it printed.
        let found = child
            .wait_for_output(settings.output_wait, |text| parse(text, true))
            .or_else(|| parse(&child.output(), false));
        match found {
            Some((url, code)) => (
                Some(Self { provider, child }),
                Event::LoginStarted { url, code },
            ),
            None => {
                let output = child.output();
                let reason = match last_line(&output) {
                    line if line.is_empty() => "it printed no sign-in link".to_string(),
                    line => format!("it printed no sign-in link ({line})"),
                };
                (None, Event::LoginNotStarted { reason })
            }
        }
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    pub fn is_expired(&self) -> bool {
        self.child.is_expired()
    }

    /// Hands the pasted code to `claude setup-token` and waits for its token.
    pub fn send_code(&mut self, code: &Secret, wait: Duration) -> Event {
        let before = self.child.output().len();
        let mut line = code.expose().as_bytes().to_vec();
        line.push(b'\n');
        if self.child.write_stdin(&line).is_err() {
            return self.ended_without_token();
        }
        let token = self.child.wait_for_output(wait, |text| {
            keys::find_setup_token(text.get(before..).unwrap_or(text))
        });
        match token {
            Some(token) => {
                self.child.kill();
                Event::LoginSucceeded {
                    credential: Some(Credential {
                        provider: Provider::Claude,
                        kind: CredentialKind::Token,
                        secret: token,
                    }),
                }
            }
            None => self.ended_without_token(),
        }
    }

    /// Looks, for up to `wait`, whether the device sign-in has completed.
    pub fn check(&mut self, wait: Duration) -> Event {
        match self.child.wait_exit(wait) {
            None => Event::LoginPending,
            Some(status) if status.success() => Event::LoginSucceeded { credential: None },
            Some(_) => self.failure(),
        }
    }

    fn ended_without_token(&mut self) -> Event {
        self.child.wait_exit(Duration::from_millis(500));
        self.child.kill();
        self.failure()
    }

    fn failure(&self) -> Event {
        let line = last_line(&self.child.output());
        let reason = if line.is_empty() {
            "the sign-in ended without a result".to_string()
        } else {
            format!("the sign-in ended with \"{line}\"")
        };
        Event::LoginFailed { reason }
    }

    /// Stops the sign-in and every process it started.
    pub fn cancel(mut self) {
        self.child.kill();
    }
}

fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

/// The first https link in CLI output. A long link that the CLI wrapped over several
/// lines is joined back together.
pub fn find_url(output: &str) -> Option<String> {
    scan_url(output).map(|link| match link {
        Link::Whole(url) | Link::MaybeContinued(url) => url,
    })
}

/// A link found in a CLI's output so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Something that is not link follows it: nothing more can be added to it.
    Whole(String),
    /// It runs to the end of the output so far: a later write may continue it.
    MaybeContinued(String),
}

/// The first link in `output`, joined across the lines a terminal wrapped it over.
pub fn scan_url(output: &str) -> Option<Link> {
    let text = strip_ansi(output);
    // The last piece is the line still being written.
    let lines: Vec<&str> = text.split('\n').collect();
    let last = lines.len() - 1;
    for (i, line) in lines.iter().enumerate() {
        let Some(start) = line.find("https://") else {
            continue;
        };
        let mut url: String = line[start..]
            .chars()
            .take_while(|c| is_url_char(*c))
            .collect();
        let fills_line = line[start..].trim_end().len() == url.len();
        // Something else on its own line closes the link at once.
        let mut whole = !fills_line;
        if fills_line {
            // Continuation lines are pure URL characters with no spaces.
            for (j, next) in lines.iter().enumerate().skip(i + 1) {
                let next_line = next.trim_end();
                let continues = !next_line.is_empty()
                    && next_line.chars().all(is_url_char)
                    && !next_line.contains("://");
                if continues {
                    url.push_str(next_line);
                    continue;
                }
                // An empty last piece is a line not written yet, not a blank line.
                whole = !(j == last && next.is_empty());
                break;
            }
        }
        let url = url.trim_end_matches(['.', ',', ')', '\'']).to_string();
        if url.len() > "https://".len() {
            return Some(if whole {
                Link::Whole(url)
            } else {
                Link::MaybeContinued(url)
            });
        }
    }
    None
}

/// The one-time code of a device sign-in: two groups of capitals or digits joined by
/// a dash, such as `ABCD-12345`.
pub fn find_device_code(output: &str) -> Option<String> {
    strip_ansi(output)
        .split(|c: char| c.is_whitespace() || c == '"' || c == '`' || c == ':')
        .find(|word| {
            let Some((a, b)) = word.split_once('-') else {
                return false;
            };
            let part = |p: &str| {
                (3..=8).contains(&p.len())
                    && p.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            };
            part(a) && part(b)
        })
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_link_is_whole_only_once_something_else_follows_it() {
        let head = "Use the url below to sign in:\n\nhttps://claude.ai/oauth/authorize?code=true&client_id=9d1c";
        let maybe = |url: &str| Some(Link::MaybeContinued(url.to_string()));
        let first = "https://claude.ai/oauth/authorize?code=true&client_id=9d1c";
        let joined = format!("{first}-88ed&state=x");
        // Each write of a slow terminal, in turn.
        assert_eq!(scan_url(head), maybe(first));
        assert_eq!(scan_url(&format!("{head}\n")), maybe(first));
        assert_eq!(scan_url(&format!("{head}\n-88ed&state=x")), maybe(&joined));
        assert_eq!(
            scan_url(&format!("{head}\n-88ed&state=x\n")),
            maybe(&joined)
        );
        assert_eq!(
            scan_url(&format!("{head}\n-88ed&state=x\n\n")),
            Some(Link::Whole(joined.clone()))
        );
        assert_eq!(
            scan_url(&format!(
                "{head}\n-88ed&state=x\nPaste code here if prompted >"
            )),
            Some(Link::Whole(joined))
        );
        // Text after the link on its own line closes it at once.
        assert_eq!(
            scan_url("open https://example.com/a to sign in"),
            Some(Link::Whole("https://example.com/a".into()))
        );
    }

    /// What Codex prints for a device sign-in: a link and a one-time code, coloured.
    const CODEX_DEVICE: &str = "Welcome to Codex\n\nFollow these steps to sign in:\n1. Open this link\n   \u{1b}[94mhttps://auth.openai.com/codex/device\u{1b}[0m\n2. Enter this one-time code (expires in 15 minutes)\n   \u{1b}[94mQX7P-4KD2M\u{1b}[0m\n";

    #[test]
    fn finds_the_link_in_what_a_cli_prints() {
        for (output, link) in [
            (CODEX_DEVICE, Some("https://auth.openai.com/codex/device")),
            // Claude's link, wrapped by the terminal, is joined.
            (
                "Browser didn't open? Use the url below to sign in:\n\nhttps://claude.ai/oauth/authorize?code=true&client_id=9d1c250a-e61b-44d9\n-a3b2-8b4fd2f1c7e8&response_type=code&state=xyz\n\nPaste code here if prompted >",
                Some("https://claude.ai/oauth/authorize?code=true&client_id=9d1c250a-e61b-44d9-a3b2-8b4fd2f1c7e8&response_type=code&state=xyz"),
            ),
            // Prose after a link is not joined to it.
            (
                "Visit https://example.com/a. Then come back.\nnext line",
                Some("https://example.com/a"),
            ),
            ("no link here", None),
        ] {
            assert_eq!(find_url(output).as_deref(), link, "{output}");
        }
    }

    #[test]
    fn finds_the_device_code_and_not_words_like_it() {
        assert_eq!(
            find_device_code(CODEX_DEVICE).as_deref(),
            Some("QX7P-4KD2M")
        );
        assert_eq!(find_device_code("sign-in with ChatGPT on e2-micro"), None);
    }
}
