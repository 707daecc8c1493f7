//! GitHub Actions' OIDC provider: the ID tokens a workflow job with `id-token: write`
//! asks for, signed RS256 under GitHub's issuer with GitHub's claims (`sub`,
//! `repository_id`, `ref`, ...), and the discovery document and JWKS a relying party
//! (Google's STS) checks them with.
//!
//! A job is started through the admin API (`POST /_admin/github/actions/jobs`), which
//! answers what a runner's environment holds: `ACTIONS_ID_TOKEN_REQUEST_URL` and
//! `ACTIONS_ID_TOKEN_REQUEST_TOKEN`. The job then asks `GET {url}&audience=...` with
//! that token, as `actions/core`'s `getIDToken` does, and gets `{"value": JWT}`.
//!
//! The signing key is a test fixture (`tests/fixtures/actions_oidc_private_key.pem`),
//! trusted by nothing but the simulator's own STS.

use crate::clock::{now_ms, random_hex, random_token};
use crate::http::{json, ok_json, Req};
use crate::Sim;
use axum::http::StatusCode;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::OnceLock;

/// GitHub Actions' OIDC issuer (the `iss` of every token, the provider's `issuerUri`).
pub const ISSUER: &str = "https://token.actions.githubusercontent.com";
const KEY_ID: &str = "claw-free-sim-actions-1";
/// How long an ID token is valid, as GitHub issues them.
const TOKEN_TTL_SECS: u64 = 300;
/// How long a job's request token is valid (a job's own lifetime bound).
const JOB_TTL_MS: u64 = 6 * 3600 * 1000;

fn key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        RsaPrivateKey::from_pkcs1_pem(include_str!(
            "../../../fixtures/actions_oidc_private_key.pem"
        ))
        .expect("the Actions OIDC fixture key is a PKCS#1 RSA key")
    })
}

/// A running job that may ask for ID tokens.
#[derive(Debug, Clone)]
pub struct Job {
    repository: String,
    repository_id: u64,
    repository_owner: String,
    repository_owner_id: u64,
    git_ref: String,
    sha: String,
    workflow: String,
    run_id: u64,
    expires_ms: u64,
}

/// Jobs by their request token.
#[derive(Debug, Default)]
pub struct Jobs(HashMap<String, Job>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    /// `owner/name` of a simulated repository.
    repository: String,
    /// `refs/heads/main`, `refs/pull/1/merge`, ...
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    workflow: Option<String>,
}

/// Starts a job of `repository` on `ref`: `{requestUrl, requestToken}`.
pub fn start_job(sim: &Sim, job: NewJob) -> Result<Value, String> {
    let mut world = sim.world();
    let (owner, name) = job
        .repository
        .split_once('/')
        .ok_or("repository: expected owner/name")?;
    let gh = &world.github;
    let repo = gh
        .repo_by_name(owner, name)
        .ok_or_else(|| format!("no repository {}", job.repository))?;
    let account = gh
        .account(repo.owner)
        .ok_or("the repository has no owner")?;
    if !job.git_ref.starts_with("refs/") {
        return Err("ref: expected refs/heads/... or refs/tags/...".into());
    }
    let entry = Job {
        repository: format!("{}/{}", account.login, repo.name),
        repository_id: repo.id,
        repository_owner: account.login.clone(),
        repository_owner_id: account.id,
        git_ref: job.git_ref,
        sha: random_hex(20),
        workflow: job.workflow.unwrap_or_else(|| "deploy".into()),
        run_id: crate::clock::random_digits(10).parse().unwrap_or(1),
        expires_ms: now_ms() + JOB_TTL_MS,
    };
    let token = random_token(40);
    world.actions_jobs.0.insert(token.clone(), entry);
    Ok(json!({
        "requestUrl": format!("{}/_actions/idtoken?api-version=2.0", sim.base_url),
        "requestToken": token,
    }))
}

/// The routes under `/_actions/`: the runner's token endpoint and the issuer's
/// discovery documents.
pub fn handle(sim: &Sim, req: &Req, path: &[&str]) -> Response {
    match path {
        ["idtoken"] => id_token(sim, req),
        [".well-known", "openid-configuration"] => ok_json(&json!({
            "issuer": ISSUER,
            "jwks_uri": format!("{}/_actions/.well-known/jwks", sim.base_url),
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref",
                "repository", "repository_id", "repository_owner", "repository_owner_id",
                "run_id", "workflow", "event_name", "ref_type", "sha"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
        })),
        [".well-known", "jwks"] => {
            let public = key().to_public_key();
            ok_json(&json!({ "keys": [{
                "kty": "RSA",
                "alg": "RS256",
                "use": "sig",
                "kid": KEY_ID,
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            }]}))
        }
        _ => json(StatusCode::NOT_FOUND, &json!({ "message": "Not Found" })),
    }
}

fn id_token(sim: &Sim, req: &Req) -> Response {
    let world = sim.world();
    let job = req
        .bearer()
        .and_then(|t| world.actions_jobs.0.get(t))
        .filter(|j| j.expires_ms > now_ms());
    let Some(job) = job else {
        return json(
            StatusCode::UNAUTHORIZED,
            &json!({ "message": "Unable to get ACTIONS_ID_TOKEN_REQUEST_URL's token: it is missing, unknown or expired." }),
        );
    };
    let audience = req
        .param("audience")
        .map(str::to_string)
        .unwrap_or_else(|| format!("https://github.com/{}", job.repository_owner));
    let now = now_ms() / 1000;
    let branch = job.git_ref.strip_prefix("refs/heads/");
    let claims = json!({
        "jti": random_hex(16),
        "sub": format!("repo:{}:ref:{}", job.repository, job.git_ref),
        "aud": audience,
        "ref": job.git_ref,
        "ref_type": if branch.is_some() { "branch" } else { "tag" },
        "sha": job.sha,
        "repository": job.repository,
        "repository_id": job.repository_id.to_string(),
        "repository_owner": job.repository_owner,
        "repository_owner_id": job.repository_owner_id.to_string(),
        "run_id": job.run_id.to_string(),
        "run_number": "1",
        "run_attempt": "1",
        "workflow": job.workflow,
        "event_name": "push",
        "job_workflow_ref": format!(
            "{}/.github/workflows/{}.yml@{}",
            job.repository, job.workflow, job.git_ref
        ),
        "iss": ISSUER,
        "nbf": now - 5,
        "iat": now,
        "exp": now + TOKEN_TTL_SECS,
    });
    ok_json(&json!({ "count": 1, "value": sign(&claims) }))
}

/// A compact RS256 JWT of `claims` under the issuer's key.
fn sign(claims: &Value) -> String {
    use rsa::signature::{SignatureEncoding, Signer};
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": KEY_ID, "x5t": KEY_ID });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key().clone());
    let signature = signer.sign(input.as_bytes()).to_vec();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Why a token is not one the issuer made and still valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    Malformed,
    Signature,
    Expired,
}

/// The claims of a token this issuer signed that is valid at `now_secs`.
pub fn verify(jwt: &str, now_secs: u64) -> Result<Value, Invalid> {
    use rsa::signature::Verifier;
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Invalid::Malformed);
    };
    let decode = |part: &str| -> Result<Value, Invalid> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| Invalid::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| Invalid::Malformed)
    };
    let header = decode(h)?;
    let claims = decode(c)?;
    if header["alg"] != "RS256" || header["kid"] != KEY_ID {
        return Err(Invalid::Signature);
    }
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| Invalid::Malformed)?;
    let signature =
        rsa::pkcs1v15::Signature::try_from(signature.as_slice()).map_err(|_| Invalid::Signature)?;
    let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key().to_public_key());
    verifier
        .verify(format!("{h}.{c}").as_bytes(), &signature)
        .map_err(|_| Invalid::Signature)?;
    let exp = claims["exp"].as_u64().ok_or(Invalid::Malformed)?;
    let nbf = claims["nbf"].as_u64().unwrap_or(0);
    if exp <= now_secs || nbf > now_secs + 60 {
        return Err(Invalid::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_until_they_expire_and_not_once_altered() {
        let claims = json!({ "iss": ISSUER, "exp": 2000, "nbf": 1000, "ref": "refs/heads/main" });
        let jwt = sign(&claims);
        assert_eq!(verify(&jwt, 1500), Ok(claims));
        assert_eq!(verify(&jwt, 2000), Err(Invalid::Expired));
        let (head, rest) = jwt.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged = json!({ "iss": ISSUER, "exp": 2000, "ref": "refs/heads/evil" });
        let forged = format!(
            "{head}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(forged.to_string())
        );
        assert_eq!(verify(&forged, 1500), Err(Invalid::Signature));
        assert_eq!(verify("a.b", 1500), Err(Invalid::Malformed));
    }
}
