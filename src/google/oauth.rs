//! Google OAuth 2.0 for a web server with PKCE: the consent URL, the code exchange,
//! the OpenID profile, and revocation. No offline access is ever requested, so Google
//! never issues a refresh token and none is ever stored.

use super::{call, AccessToken, Bearer, Google, GoogleFailure};
use crate::config::Config;
use crate::http::{query_string, OutboundRequest};
use crate::ports::HttpClient;
use serde::{Deserialize, Serialize};

/// The Cloud scopes claw.free asks for: the narrowest that still let it do what it
/// does, each taken from the "Authorization scopes" of the methods it calls in
/// Google's REST reference (docs.cloud.google.com, `<api>/reference/rest/...`).
/// `cloud-platform` would cover them all, and also writing to every other
/// service of every project (Storage, IAM, billing); these do not.
pub const CLOUD_SCOPES: [&str; 4] = [
    // Resource Manager v3 `projects.create` accepts `cloudplatformprojects` or
    // `cloud-platform`: "Create a new project".
    "https://www.googleapis.com/auth/cloudplatformprojects",
    // Resource Manager v3 `projects.search` (the project list) and
    // `operations.get`, and Service Usage `services.get`, accept
    // `cloud-platform.read-only` (or `cloud-platform`), and nothing narrower.
    "https://www.googleapis.com/auth/cloud-platform.read-only",
    // Service Usage v1 `services.enable` (turning Compute Engine on) and its
    // `operations.get` accept `service.management` or `cloud-platform`.
    "https://www.googleapis.com/auth/service.management",
    // Every Compute Engine v1 method claw.free calls (`instances.insert`, `get`,
    // `delete`, `setMetadata`, `getGuestAttributes`, `getSerialPortOutput`,
    // `aggregatedList`, `zoneOperations.get`) accepts `compute` or `cloud-platform`.
    "https://www.googleapis.com/auth/compute",
];

/// Everything a sign-in asks for: who you are (`openid email profile`: the
/// account id, and the name, address and picture the page shows) and the above.
pub fn scopes() -> String {
    ["openid", "email", "profile"]
        .into_iter()
        .chain(CLOUD_SCOPES)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The scope that includes every Cloud scope (granted by older sign-ins).
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// What linking a GitHub repository adds to a sign-in: creating the Workload Identity
/// pool and provider accepts only `cloud-platform` (IAM v1's "Authorization scopes"),
/// and so do the service accounts' and the bucket's policies together. Asked for only
/// when the person links a bot, never at a plain sign-in.
pub const LINK_SCOPES: [&str; 1] = [CLOUD_PLATFORM];

/// The consent page URL for a sign-in (with `link`, also for linking a repository).
pub fn consent_url(config: &Config, state: &str, code_challenge: &str, link: bool) -> String {
    let mut scope = scopes();
    if link {
        for extra in LINK_SCOPES {
            scope.push(' ');
            scope.push_str(extra);
        }
    }
    let query = query_string(&[
        ("client_id", &config.client_id),
        ("redirect_uri", &config.redirect_uri()),
        ("response_type", "code"),
        ("scope", &scope),
        ("state", state),
        ("code_challenge", code_challenge),
        ("code_challenge_method", "S256"),
        ("access_type", "online"),
        ("include_granted_scopes", "true"),
        ("prompt", "select_account"),
    ]);
    format!("{}?{query}", config.endpoints.auth_url)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    scope: Option<String>,
}

/// A fresh access token and how long it lives.
#[derive(Debug)]
pub struct Grant {
    pub access_token: AccessToken,
    pub expires_in: u64,
    /// Whether the person granted the Cloud scopes (they may untick some on the consent page).
    pub has_cloud_scope: bool,
}

pub async fn exchange_code(
    http: &impl HttpClient,
    config: &Config,
    code: &str,
    verifier: &str,
) -> Result<Grant, GoogleFailure> {
    let redirect_uri = config.redirect_uri();
    let request = OutboundRequest::post_form(
        &config.endpoints.token_url,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("client_id", &config.client_id),
            ("client_secret", &config.client_secret),
            ("redirect_uri", &redirect_uri),
        ],
    );
    let token: TokenResponse = call(http, request).await.map_err(|failure| match failure {
        // The token endpoint answers 400 invalid_grant for a used or expired code.
        GoogleFailure::Invalid(_) | GoogleFailure::Other { .. } => GoogleFailure::Invalid(
            "the sign-in code was refused (it may have expired or been used already)".into(),
        ),
        other => other,
    })?;
    Ok(Grant {
        has_cloud_scope: token.scope.as_deref().is_none_or(has_cloud_scopes),
        access_token: AccessToken::new(token.access_token),
        expires_in: token.expires_in.unwrap_or(3600),
    })
}

/// Whether Google granted every Cloud scope (the consent page lets a person untick
/// some), or `cloud-platform`, which holds them all.
fn has_cloud_scopes(granted: &str) -> bool {
    let granted: Vec<&str> = granted.split_whitespace().collect();
    granted.contains(&CLOUD_PLATFORM) || CLOUD_SCOPES.iter().all(|s| granted.contains(s))
}

/// The OpenID profile of the signed-in person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoogleUser {
    pub sub: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub picture: String,
}

/// The calls made with the person's own token: `google.oauth()`.
pub struct OAuth<'a, H>(pub(super) Google<'a, H>);

impl<H: HttpClient> OAuth<'_, H> {
    /// The person's OpenID profile.
    pub async fn userinfo(self) -> Result<GoogleUser, GoogleFailure> {
        let config = self.0.config;
        let request = OutboundRequest::get(&config.endpoints.userinfo_url);
        let mut user: GoogleUser = self.0.bearer.send(request).await?;
        if user.sub.is_empty() || user.sub.len() > 255 {
            return Err(GoogleFailure::Invalid(
                "Google returned no account id".into(),
            ));
        }
        // Only an https picture (or the simulator's http one in development) is shown.
        let allowed_picture = user.picture.starts_with("https://")
            || (config.environment == crate::config::Environment::Development
                && user.picture.starts_with("http://"));
        if !allowed_picture {
            user.picture.clear();
        }
        Ok(user)
    }

    /// Revokes the token at sign-out. Returns whether the token is now unusable: Google
    /// answered 200, or 400 `invalid_token` (it had already expired or was revoked).
    /// Anything else (no answer, a 5xx) leaves the token alive until it expires.
    pub async fn revoke(self) -> bool {
        let Bearer { http, token } = self.0.bearer;
        let request = OutboundRequest::post_form(
            &self.0.config.endpoints.revoke_url,
            &[("token", token.expose())],
        );
        match http.send(request).await {
            Ok(response) if response.is_success() => true,
            Ok(response) if response.status == 400 => {
                #[derive(Deserialize)]
                struct Refusal {
                    #[serde(default)]
                    error: String,
                }
                serde_json::from_slice::<Refusal>(&response.body)
                    .is_ok_and(|r| r.error == "invalid_token")
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::development_config;

    #[test]
    fn consent_url_asks_for_pkce_and_no_offline_access() {
        let url = consent_url(&development_config(), "st4te", "ch4llenge", false);
        assert!(!url.contains("auth%2Fcloud-platform&") && !url.contains("auth%2Fcloud-platform+"));
        let link = consent_url(&development_config(), "st4te", "ch4llenge", true);
        assert!(
            link.contains("https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform&"),
            "{link}"
        );
        assert!(url.starts_with("http://sim.test/o/oauth2/v2/auth?"));
        for part in [
            "client_id=claw-free-local",
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A8787%2Fapi%2Fauth%2Fcallback%2Fgoogle",
            "response_type=code",
            "scope=openid+email+profile+https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloudplatformprojects+https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform.read-only+https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fservice.management+https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcompute",
            "state=st4te",
            "code_challenge=ch4llenge",
            "code_challenge_method=S256",
            "access_type=online",
        ] {
            assert!(url.contains(part), "{part} missing from {url}");
        }
        assert!(!url.contains("offline"));
        assert!(
            !url.contains("cloud-platform&") && !url.contains("cloud-platform+"),
            "never the all-powerful cloud-platform scope: {url}"
        );
    }

    #[test]
    fn every_cloud_scope_must_be_granted() {
        let all = CLOUD_SCOPES.join(" ");
        assert!(has_cloud_scopes(&format!("openid email {all}")));
        assert!(has_cloud_scopes(CLOUD_PLATFORM));
        let without_compute = CLOUD_SCOPES[..3].join(" ");
        assert!(!has_cloud_scopes(&format!("openid {without_compute}")));
        assert!(!has_cloud_scopes("openid email profile"));
    }
}
