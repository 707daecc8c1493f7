//! GitHub's REST API as linking calls it, each call typed: the App's user authorization
//! (code exchange, the user's installations), installation tokens narrowed to one
//! repository, repositories (read, generate from the template), files, the deploy
//! environment, its secrets' key and secrets, and Actions variables. GitHub's errors
//! (`{message, documentation_url}`) become a [`GitHubFailure`]; tokens are never part of
//! one.

use super::sealed_box::RepoKey;
use crate::http::{encode, Method, OutboundRequest, OutboundResponse};
use crate::ports::HttpClient;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

/// GitHub's REST API version the Worker speaks.
const API_VERSION: &str = "2022-11-28";

/// Where GitHub is: `https://api.github.com` and `https://github.com` in production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHub {
    pub api: String,
    pub web: String,
}

/// Why a GitHub call failed, with GitHub's own message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitHubFailure {
    /// 401: the credential is wrong or expired.
    Unauthorized(String),
    /// 403: not allowed (a missing permission, a rate limit).
    Forbidden(String),
    /// 404: missing, or hidden from this credential.
    NotFound(String),
    /// 409 or 422: the request conflicts with what is there or is invalid.
    Rejected(String),
    /// The OAuth exchange refused the code (`bad_verification_code`, ...).
    OAuth(String),
    /// 5xx, or GitHub could not be reached: try again later.
    Transient(String),
    /// An answer the Worker cannot read.
    Unexpected(String),
}

/// GitHub's error body, `{message, errors: [{message}]}`, as one sentence.
fn failure(response: &OutboundResponse) -> GitHubFailure {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let said = body["message"].as_str().unwrap_or_default();
    let detail = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["message"].as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let message = match (said.is_empty(), detail.is_empty()) {
        (true, _) => format!("GitHub answered {}", response.status),
        (false, true) => said.to_string(),
        (false, false) => format!("{said}: {detail}"),
    };
    match response.status {
        401 => GitHubFailure::Unauthorized(message),
        403 => GitHubFailure::Forbidden(message),
        404 => GitHubFailure::NotFound(message),
        409 | 422 => GitHubFailure::Rejected(message),
        s if s >= 500 => GitHubFailure::Transient(message),
        _ => GitHubFailure::Unexpected(message),
    }
}

fn request(method: Method, url: String, credential: &str, body: Option<&Value>) -> OutboundRequest {
    let mut headers = vec![
        (
            "accept".to_string(),
            "application/vnd.github+json".to_string(),
        ),
        ("x-github-api-version".to_string(), API_VERSION.to_string()),
        ("authorization".to_string(), format!("Bearer {credential}")),
    ];
    if body.is_some() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    OutboundRequest {
        method,
        url,
        headers,
        body: body.map(|b| b.to_string().into_bytes()),
    }
}

async fn send(
    http: &impl HttpClient,
    req: OutboundRequest,
) -> Result<OutboundResponse, GitHubFailure> {
    let response = http
        .send(req)
        .await
        .map_err(|e| GitHubFailure::Transient(e.to_string()))?;
    if response.is_success() {
        Ok(response)
    } else {
        Err(failure(&response))
    }
}

fn parse<T: DeserializeOwned>(response: &OutboundResponse) -> Result<T, GitHubFailure> {
    serde_json::from_slice(&response.body)
        .map_err(|e| GitHubFailure::Unexpected(format!("GitHub's answer did not parse: {e}")))
}

/// `GET url` with `credential`, its answer parsed.
async fn get<T: DeserializeOwned>(
    http: &impl HttpClient,
    url: String,
    credential: &str,
) -> Result<T, GitHubFailure> {
    parse(&send(http, request(Method::Get, url, credential, None)).await?)
}

/// The text field `name` of GitHub's answer.
fn text(response: &OutboundResponse, name: &str) -> Result<String, GitHubFailure> {
    let answer: Value = parse(response)?;
    match answer[name].as_str() {
        Some(text) => Ok(text.to_string()),
        None => Err(GitHubFailure::Unexpected(format!(
            "GitHub's answer did not parse: no {name}"
        ))),
    }
}

/// A user token of the App (`ghu_…`), kept only for the request that got it.
#[derive(Clone, PartialEq, Eq)]
pub struct UserToken(String);

impl std::fmt::Debug for UserToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserToken(redacted)")
    }
}

impl UserToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl GitHub {
    /// `{api}/repos/{owner}/{name}`, under which every call about one repository is.
    fn repo_url(&self, repo: &RepoName) -> String {
        format!("{}/repos/{}", self.api, repo.path())
    }

    /// Exchanges the App's user-authorization code (GitHub answers refusals with 200).
    pub async fn exchange_code(
        &self,
        http: &impl HttpClient,
        client_id: &str,
        client_secret: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<UserToken, GitHubFailure> {
        let mut req = OutboundRequest::post_form(
            format!("{}/login/oauth/access_token", self.web),
            &[
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ],
        );
        req.headers
            .push(("accept".into(), "application/json".into()));
        let answer: Value = parse(&send(http, req).await?)?;
        match (answer["access_token"].as_str(), answer["error"].as_str()) {
            (Some(token), None) if !token.is_empty() => Ok(UserToken(token.into())),
            (_, Some(error)) => Err(GitHubFailure::OAuth(error.into())),
            _ => Err(GitHubFailure::Unexpected("no access token".into())),
        }
    }

    /// The installations of the App that the token's user can reach.
    pub async fn user_installations(
        &self,
        http: &impl HttpClient,
        user: &UserToken,
    ) -> Result<Vec<Installation>, GitHubFailure> {
        #[derive(Deserialize)]
        struct List {
            installations: Vec<Installation>,
        }
        let url = format!("{}/user/installations?per_page=100", self.api);
        let list: List = get(http, url, user.expose()).await?;
        Ok(list.installations)
    }

    /// A token of installation `id` for one repository, with only `permissions`.
    pub async fn installation_token(
        &self,
        http: &impl HttpClient,
        app_jwt: &str,
        installation: u64,
        repository_id: u64,
        permissions: &[(&str, &str)],
    ) -> Result<InstallationToken, GitHubFailure> {
        let narrowed = json!({ "repository_ids": [repository_id] });
        self.mint(http, app_jwt, installation, narrowed, permissions)
            .await
    }

    /// The App's installation on a repository (`GET /repos/{o}/{r}/installation`).
    pub async fn repository_installation(
        &self,
        http: &impl HttpClient,
        app_jwt: &str,
        repo: &RepoName,
    ) -> Result<Installation, GitHubFailure> {
        let url = format!("{}/installation", self.repo_url(repo));
        get(http, url, app_jwt).await
    }

    /// A token of installation `id` for the one repository named, with only `permissions`.
    pub async fn installation_token_for(
        &self,
        http: &impl HttpClient,
        app_jwt: &str,
        installation: u64,
        repo: &RepoName,
        permissions: &[(&str, &str)],
    ) -> Result<InstallationToken, GitHubFailure> {
        let narrowed = json!({ "repositories": [repo.name] });
        self.mint(http, app_jwt, installation, narrowed, permissions)
            .await
    }

    /// `POST /app/installations/{id}/access_tokens`: a token narrowed to the repositories
    /// in `narrowed` (by id or by name) and to `permissions`.
    async fn mint(
        &self,
        http: &impl HttpClient,
        app_jwt: &str,
        installation: u64,
        mut narrowed: Value,
        permissions: &[(&str, &str)],
    ) -> Result<InstallationToken, GitHubFailure> {
        narrowed["permissions"] = permissions
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect::<serde_json::Map<String, Value>>()
            .into();
        let url = format!(
            "{}/app/installations/{installation}/access_tokens",
            self.api
        );
        let answer = send(http, request(Method::Post, url, app_jwt, Some(&narrowed))).await?;
        Ok(InstallationToken(text(&answer, "token")?))
    }

    /// A new private repository of the user, from the template.
    pub async fn generate(
        &self,
        http: &impl HttpClient,
        user: &UserToken,
        template: &RepoName,
        owner: &str,
        name: &str,
    ) -> Result<Repository, GitHubFailure> {
        let url = format!("{}/generate", self.repo_url(template));
        let body = json!({
            "owner": owner, "name": name, "private": true,
            "description": "My OpenClaw bot's system (claw.free)",
        });
        parse(&send(http, request(Method::Post, url, user.expose(), Some(&body))).await?)
    }

    /// The repositories of installation `id` the token's user can reach (first 100).
    pub async fn installation_repositories(
        &self,
        http: &impl HttpClient,
        user: &UserToken,
        installation: u64,
    ) -> Result<Vec<Repository>, GitHubFailure> {
        #[derive(Deserialize)]
        struct List {
            repositories: Vec<Repository>,
        }
        let url = format!(
            "{}/user/installations/{installation}/repositories?per_page=100",
            self.api
        );
        let list: List = get(http, url, user.expose()).await?;
        Ok(list.repositories)
    }
    /// Calls about `repo` with an installation `token` for it.
    pub fn repo<'a, H>(
        &'a self,
        http: &'a H,
        token: &'a InstallationToken,
        repo: &'a RepoName,
    ) -> Repo<'a, H> {
        Repo {
            url: self.repo_url(repo),
            http,
            token,
        }
    }
}

/// GitHub's calls about one repository, with an installation token for it.
pub struct Repo<'a, H> {
    /// `{api}/repos/{owner}/{name}`, under which every call about it is.
    url: String,
    http: &'a H,
    token: &'a InstallationToken,
}

impl<H: HttpClient> Repo<'_, H> {
    /// Sends `method url` with the token (and a JSON `body`), its failure classified.
    async fn send(
        &self,
        method: Method,
        url: String,
        body: Option<&Value>,
    ) -> Result<OutboundResponse, GitHubFailure> {
        send(self.http, request(method, url, self.token.expose(), body)).await
    }

    /// A file's URL in the repository (each part of its path encoded).
    fn contents_url(&self, path: &str) -> String {
        let path: Vec<String> = path.split('/').map(encode).collect();
        format!("{}/contents/{}", self.url, path.join("/"))
    }

    fn environment_url(&self, environment: &str) -> String {
        format!("{}/environments/{}", self.url, encode(environment))
    }

    fn protection_url(&self, branch: &str) -> String {
        format!("{}/branches/{}/protection", self.url, encode(branch))
    }

    /// The repository, as the token reaches it.
    pub async fn get(&self) -> Result<Repository, GitHubFailure> {
        parse(&self.send(Method::Get, self.url.clone(), None).await?)
    }

    /// A file's bytes on `branch`; `None` when it is not there.
    pub async fn file(&self, path: &str, branch: &str) -> Result<Option<Vec<u8>>, GitHubFailure> {
        let url = format!("{}?ref={}", self.contents_url(path), encode(branch));
        let content = match self.send(Method::Get, url, None).await {
            Ok(response) => text(&response, "content")?,
            Err(GitHubFailure::NotFound(_)) => return Ok(None),
            Err(other) => return Err(other),
        };
        let base64: String = content.split_whitespace().collect();
        STANDARD
            .decode(base64)
            .map(Some)
            .map_err(|_| GitHubFailure::Unexpected("a file's content is not base64".into()))
    }

    /// Creates or replaces one file on `main` as one commit.
    pub async fn put_file(
        &self,
        path: &str,
        message: &str,
        content: &[u8],
    ) -> Result<(), GitHubFailure> {
        let url = self.contents_url(path);
        let current = match self.send(Method::Get, url.clone(), None).await {
            Ok(response) => Some(text(&response, "sha")?),
            Err(GitHubFailure::NotFound(_)) => None,
            Err(other) => return Err(other),
        };
        let mut body = json!({ "message": message, "content": STANDARD.encode(content) });
        if let Some(sha) = current {
            body["sha"] = json!(sha);
        }
        self.send(Method::Put, url, Some(&body)).await?;
        Ok(())
    }

    pub async fn ensure_environment(&self, environment: &str) -> Result<(), GitHubFailure> {
        let url = self.environment_url(environment);
        self.send(Method::Put, url, Some(&json!({}))).await?;
        Ok(())
    }

    /// The key the environment's secrets are sealed to.
    pub async fn environment_key(&self, environment: &str) -> Result<RepoKey, GitHubFailure> {
        let url = format!("{}/secrets/public-key", self.environment_url(environment));
        let answer = self.send(Method::Get, url, None).await?;
        RepoKey::parse(&text(&answer, "key_id")?, &text(&answer, "key")?)
            .map_err(GitHubFailure::Unexpected)
    }

    /// Stores a secret already sealed to `key` (see [`super::sealed_box::seal`]).
    pub async fn put_environment_secret(
        &self,
        environment: &str,
        name: &str,
        key: &RepoKey,
        sealed: &str,
    ) -> Result<(), GitHubFailure> {
        let url = format!(
            "{}/secrets/{}",
            self.environment_url(environment),
            encode(name)
        );
        let body = json!({ "encrypted_value": sealed, "key_id": key.key_id });
        self.send(Method::Put, url, Some(&body)).await?;
        Ok(())
    }

    /// Protects `branch` so that changes reach it only through a pull request.
    pub async fn require_pull_requests(&self, branch: &str) -> Result<(), GitHubFailure> {
        let url = self.protection_url(branch);
        let body = json!({
            "required_status_checks": null,
            "enforce_admins": true,
            "required_pull_request_reviews": { "required_approving_review_count": 0 },
            "restrictions": null,
            "allow_force_pushes": false,
            "allow_deletions": false,
        });
        self.send(Method::Put, url, Some(&body)).await?;
        Ok(())
    }

    /// Whether `branch` changes only by pull request (its protection requires reviews);
    /// false for an unprotected branch.
    pub async fn requires_pull_requests(&self, branch: &str) -> Result<bool, GitHubFailure> {
        match self
            .send(Method::Get, self.protection_url(branch), None)
            .await
        {
            Ok(response) => {
                let rules: Value = parse(&response)?;
                Ok(rules.get("required_pull_request_reviews").is_some())
            }
            // "Branch not protected".
            Err(GitHubFailure::NotFound(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Sets an Actions variable, creating it or updating the one there.
    pub async fn set_variable(&self, name: &str, value: &str) -> Result<(), GitHubFailure> {
        let base = format!("{}/actions/variables", self.url);
        let body = json!({ "name": name, "value": value });
        match self.send(Method::Post, base.clone(), Some(&body)).await {
            Ok(_) => Ok(()),
            Err(GitHubFailure::Rejected(_)) => {
                let url = format!("{base}/{}", encode(name));
                self.send(Method::Patch, url, Some(&body)).await?;
                Ok(())
            }
            Err(other) => Err(other),
        }
    }
}

/// An installation token (`ghs_…`), narrowed to one repository; never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct InstallationToken(String);

impl std::fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InstallationToken(redacted)")
    }
}

impl InstallationToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    pub login: String,
    pub id: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Installation {
    pub id: u64,
    pub app_id: u64,
    pub account: Account,
    pub repository_selection: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Repository {
    pub id: u64,
    pub full_name: String,
    pub private: bool,
    pub default_branch: String,
    #[serde(default)]
    pub html_url: String,
    #[serde(default)]
    pub is_template: bool,
}

/// `owner/name`, each part as GitHub allows (letters, digits, `-`, `_`, `.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoName {
    pub owner: String,
    pub name: String,
}

impl RepoName {
    pub fn parse(full: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "a repository is owner/name, not {:?}",
                full.chars().take(120).collect::<String>()
            )
        };
        let (owner, name) = full.trim().split_once('/').ok_or_else(bad)?;
        let part_ok = |p: &str, max: usize| {
            (1..=max).contains(&p.len())
                && p != "."
                && p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        if part_ok(owner, 39) && part_ok(name, 100) {
            Ok(Self {
                owner: owner.to_string(),
                name: name.to_string(),
            })
        } else {
            Err(bad())
        }
    }

    fn path(&self) -> String {
        format!("{}/{}", encode(&self.owner), encode(&self.name))
    }
}

/// Whether installation `id` of `app_id` is one the signed-in GitHub user can reach:
/// the check that a browser returning from GitHub's setup page with someone else's
/// installation id gets nothing.
pub fn is_users_installation(installations: &[Installation], app_id: u64, id: u64) -> bool {
    installations
        .iter()
        .any(|i| i.id == id && i.app_id == app_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_are_parsed() {
        assert_eq!(
            RepoName::parse("ada-lovelace/my-bot").unwrap(),
            RepoName {
                owner: "ada-lovelace".into(),
                name: "my-bot".into()
            }
        );
        for bad in [
            "", "ada", "ada/", "/bot", "a/b/c", "ada/..", "ada/b?c", "ada/b%2f",
        ] {
            assert!(RepoName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn githubs_errors_keep_its_message() {
        let response = OutboundResponse {
            status: 422,
            body: br#"{"message":"Validation Failed","errors":[{"resource":"Repository","code":"custom","field":"name","message":"name already exists on this account"}],"documentation_url":"https://docs.github.com/rest"}"#.to_vec(),
        };
        assert_eq!(
            failure(&response),
            GitHubFailure::Rejected(
                "Validation Failed: name already exists on this account".into()
            )
        );
        let response = OutboundResponse {
            status: 502,
            body: b"<html>".to_vec(),
        };
        assert_eq!(
            failure(&response),
            GitHubFailure::Transient("GitHub answered 502".into())
        );
    }

    #[test]
    fn tokens_never_show_in_debug() {
        assert_eq!(
            format!("{:?}", UserToken("ghu_secret".into())),
            "UserToken(redacted)"
        );
        assert_eq!(
            format!("{:?}", InstallationToken("ghs_secret".into())),
            "InstallationToken(redacted)"
        );
    }
}
