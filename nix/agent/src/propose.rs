//! GitHub mode: the bot proposes a change to its own repository as a pull request.
//!
//! The VM's Google identity token (audience: claw.free's site) goes to claw.free's
//! Worker, which answers with an hour's GitHub token for this one repository
//! (`contents` and `pull_requests` write, never `workflows`) once the repository's
//! `main` names this VM. With it: a new branch from `main`, one commit per file on it,
//! and a pull request (a refusal on the way deletes the branch again); the owner decides by merging. Both tokens live only in this
//! process and reach curl through its config on stdin; the bot sees the pull
//! request's URL, nothing else.
//!
//! The request arrives as [`Proposal`]: from the command line (`propose`, as root) or
//! as one JSON object on stdin (`serve-propose`, the socket-activated service the
//! unprivileged skill connects to), answered with `ok URL` or `error: REASON`.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::cli::GitHubOptions;
use crate::curl;
use crate::log;
use crate::metadata::{query_escape, MetadataClient};

/// GitHub's REST API version spoken.
const API_VERSION: &str = "2022-11-28";
/// Limits on what one proposal may carry.
pub const MAX_FILES: usize = 20;
pub const MAX_FILE_BYTES: usize = 512 * 1024;
pub const MAX_TITLE: usize = 200;
pub const MAX_BODY: usize = 16 * 1024;
/// A request on stdin: every file base64, plus the title and body.
const MAX_REQUEST: u64 = (MAX_FILES * MAX_FILE_BYTES * 4 / 3 + 64 * 1024) as u64;
const MAIN: &str = "main";

/// What the bot proposes: the pull request's title and body, and each file's new
/// content by its path in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub title: String,
    pub body: String,
    pub files: BTreeMap<RepoPath, Vec<u8>>,
}

/// A path in the repository: relative, `/`-separated, no `.` or `..` parts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RepoPath(String);

impl RepoPath {
    pub fn parse(path: &str) -> Result<Self, String> {
        let ok = !path.is_empty()
            && path.len() <= 255
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
            && path.chars().all(|c| !c.is_control() && c != '\\');
        if ok {
            Ok(Self(path.to_string()))
        } else {
            Err(format!(
                "{:?} is not a path in the repository (relative, no . or .. parts)",
                path.chars().take(80).collect::<String>()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path with each part percent-encoded for a URL.
    fn url(&self) -> String {
        escape_segments(&self.0)
    }
}

impl Proposal {
    pub fn new(title: &str, body: &str, files: Vec<(String, Vec<u8>)>) -> Result<Self, String> {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE {
            return Err(format!("the title must be 1 to {MAX_TITLE} characters"));
        }
        if body.len() > MAX_BODY {
            return Err(format!("the body is longer than {MAX_BODY} bytes"));
        }
        if files.is_empty() || files.len() > MAX_FILES {
            return Err(format!("propose 1 to {MAX_FILES} files"));
        }
        let mut parsed = BTreeMap::new();
        for (path, content) in files {
            if content.len() > MAX_FILE_BYTES {
                return Err(format!("{path} is larger than {MAX_FILE_BYTES} bytes"));
            }
            if parsed.insert(RepoPath::parse(&path)?, content).is_some() {
                return Err(format!("{path} is given twice"));
            }
        }
        Ok(Self {
            title: title.to_string(),
            body: body.to_string(),
            files: parsed,
        })
    }

    /// The request `serve-propose` reads: `{title, body?, files: {path: base64}}`.
    pub fn from_json(text: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Request {
            title: String,
            #[serde(default)]
            body: String,
            files: BTreeMap<String, String>,
        }
        let request: Request =
            serde_json::from_slice(text).map_err(|e| format!("the request is not valid: {e}"))?;
        let mut files = Vec::new();
        for (path, b64) in request.files {
            let content = decode_base64(&b64).ok_or_else(|| format!("{path}: not base64"))?;
            files.push((path, content));
        }
        Self::new(&request.title, &request.body, files)
    }

    /// The branch the change goes on: `claw-free/<words of the title>-<time>`.
    pub fn branch(&self, now_secs: u64) -> String {
        let mut slug = String::new();
        for c in self.title.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
            if slug.len() >= 40 {
                break;
            }
        }
        let slug = slug.trim_end_matches('-');
        let slug = if slug.is_empty() { "change" } else { slug };
        format!("claw-free/{slug}-{now_secs}")
    }
}

/// `path` with each `/`-separated part percent-encoded, the slashes kept.
fn escape_segments(path: &str) -> String {
    path.split('/')
        .map(query_escape)
        .collect::<Vec<_>>()
        .join("/")
}

fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let clean: String = text.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(clean).ok()
}

/// The GitHub token the Worker answered with; `Debug` never shows it.
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(redacted)")
    }
}

/// Everything a proposal talks to.
pub struct Proposer<'a> {
    pub options: &'a GitHubOptions,
    pub metadata: &'a MetadataClient,
    pub curl: &'a str,
}

/// GitHub's `message`, for errors.
fn message_of(body: &str) -> String {
    let json: Value = serde_json::from_str(body).unwrap_or_default();
    let message = json["message"]
        .as_str()
        .or_else(|| json["error"].as_str())
        .unwrap_or("no message");
    let detail: Vec<&str> = json["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["message"].as_str()).collect())
        .unwrap_or_default();
    let text = if detail.is_empty() {
        message.to_string()
    } else {
        format!("{message}: {}", detail.join("; "))
    };
    log::one_line(&text)
}

impl Proposer<'_> {
    fn settings(&self) -> Result<(&str, &str), String> {
        let repository = self.options.repository.as_deref().ok_or(
            "this VM names no repository (GitHub mode is off: openclaw.githubMode.repository)",
        )?;
        let worker = self
            .options
            .worker_url
            .as_deref()
            .ok_or("this VM knows no claw.free site (openclaw.githubMode.workerUrl)")?;
        Ok((repository, worker))
    }

    /// Opens the pull request and returns its URL.
    pub fn propose(&self, proposal: &Proposal, now_secs: u64) -> Result<String, String> {
        let (repository, worker) = self.settings()?;
        let identity = self
            .metadata
            .identity_token(worker)
            .map_err(|e| format!("cannot get this VM's identity token: {e}"))?;
        let token = self.github_token(worker, repository, &identity)?;
        drop(identity);
        let branch = proposal.branch(now_secs);
        let github = GitHub {
            api: &self.options.api,
            repository,
            token: &token,
            curl: self.curl,
        };
        let base = github.main_commit()?;
        github.create_branch(&branch, &base)?;
        let opened = proposal
            .files
            .iter()
            .try_for_each(|(path, content)| github.write(&branch, path, content, &proposal.title))
            .and_then(|()| github.open_pull(&branch, proposal));
        if opened.is_err() {
            // A refused proposal leaves no half-written branch behind; if even this
            // fails, the branch is only clutter the owner may delete.
            github.delete_branch(&branch);
        }
        opened
    }

    fn github_token(
        &self,
        worker: &str,
        repository: &str,
        identity: &str,
    ) -> Result<Token, String> {
        let url = format!("{worker}/api/vm/github-token");
        let body = json!({ "repository": repository }).to_string();
        let authorization = format!("Bearer {identity}");
        let (status, answer) = curl::exchange(
            self.curl,
            "30",
            "POST",
            &url,
            &[("Authorization", &authorization), ("Origin", worker)],
            Some(&body),
        )?;
        if status != 200 {
            return Err(format!(
                "claw.free gave no GitHub token (HTTP {status}: {})",
                message_of(&answer)
            ));
        }
        let json: Value = serde_json::from_str(&answer).unwrap_or_default();
        json["token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(|t| Token(t.to_string()))
            .ok_or_else(|| "claw.free's answer holds no token".to_string())
    }
}

struct GitHub<'a> {
    api: &'a str,
    repository: &'a str,
    token: &'a Token,
    curl: &'a str,
}

impl GitHub<'_> {
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String), String> {
        let url = format!("{}/repos/{}{path}", self.api, self.repository);
        let authorization = format!("Bearer {}", self.token.0);
        let body = body.map(Value::to_string);
        curl::exchange(
            self.curl,
            "60",
            method,
            &url,
            &[
                ("Authorization", &authorization),
                ("Accept", "application/vnd.github+json"),
                ("X-GitHub-Api-Version", API_VERSION),
                ("User-Agent", "claw.free-agent"),
            ],
            body.as_deref(),
        )
    }

    fn main_commit(&self) -> Result<String, String> {
        let (status, body) = self.call("GET", &format!("/git/ref/heads/{MAIN}"), None)?;
        let json: Value = serde_json::from_str(&body).unwrap_or_default();
        match (status, json["object"]["sha"].as_str()) {
            (200, Some(sha)) => Ok(sha.to_string()),
            _ => Err(format!(
                "cannot read {MAIN} of {} (HTTP {status}: {})",
                self.repository,
                message_of(&body)
            )),
        }
    }

    fn create_branch(&self, branch: &str, base: &str) -> Result<(), String> {
        let ask = json!({ "ref": format!("refs/heads/{branch}"), "sha": base });
        let (status, body) = self.call("POST", "/git/refs", Some(&ask))?;
        if status == 201 {
            Ok(())
        } else {
            Err(format!(
                "cannot create branch {branch} (HTTP {status}: {})",
                message_of(&body)
            ))
        }
    }

    fn delete_branch(&self, branch: &str) {
        let path = format!("/git/refs/heads/{}", escape_segments(branch));
        match self.call("DELETE", &path, None) {
            Ok((204, _)) => {}
            Ok((status, body)) => log::event(
                "propose",
                &format!(
                    "branch {branch} left behind (HTTP {status}: {})",
                    message_of(&body)
                ),
            ),
            Err(why) => log::event("propose", &format!("branch {branch} left behind: {why}")),
        }
    }

    fn write(
        &self,
        branch: &str,
        path: &RepoPath,
        content: &[u8],
        title: &str,
    ) -> Result<(), String> {
        let at = format!("/contents/{}", path.url());
        let (status, body) =
            self.call("GET", &format!("{at}?ref={}", query_escape(branch)), None)?;
        let current = match status {
            200 => serde_json::from_str::<Value>(&body).unwrap_or_default()["sha"]
                .as_str()
                .map(str::to_string),
            404 => None,
            _ => {
                return Err(format!(
                    "cannot read {} (HTTP {status}: {})",
                    path.as_str(),
                    message_of(&body)
                ))
            }
        };
        let mut ask = json!({
            "message": format!("{title}\n\n{} (proposed by the bot)", path.as_str()),
            "content": encode_base64(content),
            "branch": branch,
        });
        if let Some(sha) = current {
            ask["sha"] = json!(sha);
        }
        let (status, body) = self.call("PUT", &at, Some(&ask))?;
        match status {
            200 | 201 => Ok(()),
            403 if path.as_str().starts_with(".github/workflows/") => Err(format!(
                "GitHub refused to change {}: the bot may never change the repository's workflows (what CI runs); the owner can make that change themselves",
                path.as_str()
            )),
            _ => Err(format!(
                "cannot write {} (HTTP {status}: {})",
                path.as_str(),
                message_of(&body)
            )),
        }
    }

    fn open_pull(&self, branch: &str, proposal: &Proposal) -> Result<String, String> {
        let ask = json!({
            "title": proposal.title,
            "head": branch,
            "base": MAIN,
            "body": proposal.body,
        });
        let (status, body) = self.call("POST", "/pulls", Some(&ask))?;
        let json: Value = serde_json::from_str(&body).unwrap_or_default();
        match (status, json["html_url"].as_str()) {
            (201, Some(url)) => Ok(url.to_string()),
            _ => Err(format!(
                "cannot open the pull request (HTTP {status}: {})",
                message_of(&body)
            )),
        }
    }
}

/// `serve-propose`: one JSON request on `input`, one line on `output`.
pub fn serve(
    proposer: &Proposer,
    input: impl Read,
    mut output: impl Write,
    now_secs: u64,
) -> Result<(), String> {
    let mut request = Vec::new();
    input
        .take(MAX_REQUEST + 1)
        .read_to_end(&mut request)
        .map_err(|e| format!("cannot read the request: {e}"))?;
    let result = if request.len() as u64 > MAX_REQUEST {
        Err("the request is too large".to_string())
    } else {
        Proposal::from_json(&request).and_then(|p| proposer.propose(&p, now_secs))
    };
    let line = match &result {
        Ok(url) => format!("ok {url}\n"),
        Err(reason) => format!("error: {}\n", log::one_line(reason)),
    };
    match &result {
        Ok(url) => log::event("propose", &format!("opened {url}")),
        Err(reason) => log::event("propose", &format!("refused: {reason}")),
    }
    output
        .write_all(line.as_bytes())
        .map_err(|e| format!("cannot answer: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_and_plain() {
        for good in ["flake.nix", "nix/bot.nix", ".github/workflows/deploy.yml"] {
            assert!(RepoPath::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/./b",
            "a\nb",
            "a\\b",
        ] {
            assert!(RepoPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn proposals_are_bounded() {
        let file = || vec![("bot.nix".to_string(), b"{ }".to_vec())];
        assert!(Proposal::new("Bump", "", file()).is_ok());
        assert!(Proposal::new("  ", "", file()).is_err());
        assert!(Proposal::new(&"x".repeat(MAX_TITLE + 1), "", file()).is_err());
        assert!(Proposal::new("Bump", "", vec![]).is_err());
        let big = vec![("a".to_string(), vec![0; MAX_FILE_BYTES + 1])];
        assert!(Proposal::new("Bump", "", big).is_err());
        let twice = vec![("a".to_string(), vec![]), ("a".to_string(), vec![])];
        assert!(Proposal::new("Bump", "", twice).is_err());
    }

    #[test]
    fn the_branch_is_named_after_the_title() {
        let p = Proposal::new("Bump OpenClaw to 2026.11!", "", vec![("a".into(), vec![])]).unwrap();
        assert_eq!(
            p.branch(1_764_000_000),
            "claw-free/bump-openclaw-to-2026-11-1764000000"
        );
        let p = Proposal::new("???", "", vec![("a".into(), vec![])]).unwrap();
        assert_eq!(p.branch(7), "claw-free/change-7");
    }

    #[test]
    fn the_json_request_is_parsed_strictly() {
        let ok = br#"{"title":"Bump","body":"Why","files":{"bot.nix":"e30="}}"#;
        let p = Proposal::from_json(ok).unwrap();
        assert_eq!(p.files[&RepoPath::parse("bot.nix").unwrap()], b"{}");
        for bad in [
            &br#"{"title":"Bump","files":{"bot.nix":"!"}}"#[..],
            br#"{"title":"Bump","files":{}}"#,
            br#"{"title":"Bump","files":{"../x":"e30="}}"#,
            br#"{"title":"Bump","files":{"a":"e30="},"token":"x"}"#,
            b"not json",
        ] {
            assert!(
                Proposal::from_json(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
