//! GitHub mode's configuration: the GitHub App (id, slug, OAuth client, private key,
//! from Worker vars and secrets) and where GitHub and Google IAM are. GitHub mode is
//! off unless `GITHUB_APP_ID` is set; once it is, everything else it needs must be too.
//! In production the endpoints must be GitHub's and Google's own over https, as for
//! every other endpoint (see [`crate::config`]).

use super::app_jwt::AppKey;
use super::client::{GitHub, RepoName};
use crate::config::Environment;
use crate::google::iam::IamApis;

pub const GITHUB_API: &str = "https://api.github.com";
pub const GITHUB_WEB: &str = "https://github.com";
pub const IAM_API: &str = "https://iam.googleapis.com";
pub const STORAGE_API: &str = "https://storage.googleapis.com";
/// The template repository owners' repositories are generated from.
pub const TEMPLATE: &str = "claw-free/bot-template";
pub use crate::google::identity::GOOGLE_CERTS_URL;

#[derive(Clone)]
pub struct GitHubMode {
    pub app_id: u64,
    /// The App's URL name: `github.com/apps/<slug>`.
    pub slug: String,
    pub client_id: String,
    pub client_secret: String,
    pub key: AppKey,
    pub github: GitHub,
    /// IAM's base URL (`https://iam.googleapis.com`).
    pub iam_api: String,
    /// Cloud Storage's base URL (`https://storage.googleapis.com`).
    pub storage_api: String,
    /// The template repository (`GITHUB_TEMPLATE`, `owner/name`).
    pub template: RepoName,
    /// Google's JWK set for instance identity tokens (a VM asking for a GitHub token).
    pub google_certs_url: String,
}

/// Shows neither the client secret nor the key.
impl std::fmt::Debug for GitHubMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubMode")
            .field("app_id", &self.app_id)
            .field("slug", &self.slug)
            .field("client_id", &self.client_id)
            .field("github", &self.github)
            .field("iam_api", &self.iam_api)
            .field("storage_api", &self.storage_api)
            .field("template", &self.template)
            .field("google_certs_url", &self.google_certs_url)
            .finish_non_exhaustive()
    }
}

impl GitHubMode {
    /// `None` when GitHub mode is not configured.
    pub fn parse(
        var: &impl Fn(&str) -> Option<String>,
        environment: Environment,
    ) -> Result<Option<Self>, String> {
        let Some(app_id) = var("GITHUB_APP_ID") else {
            return Ok(None);
        };
        let app_id: u64 = app_id
            .parse()
            .map_err(|_| "GITHUB_APP_ID must be the App's numeric id".to_string())?;
        let required = |name: &str| {
            var(name).ok_or_else(|| {
                format!("{name} is not configured (GitHub mode is on: GITHUB_APP_ID is set)")
            })
        };
        let slug = required("GITHUB_APP_SLUG")?;
        if !slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("GITHUB_APP_SLUG must be the App's URL name (a-z, 0-9, -)".into());
        }
        let endpoint = |name: &str, production: &str| -> Result<String, String> {
            let value = var(name).unwrap_or_else(|| production.to_string());
            let value = value.trim_end_matches('/').to_string();
            let ok = match environment {
                Environment::Production => value == production,
                Environment::Development => {
                    value.starts_with("https://") || value.starts_with("http://")
                }
            };
            if ok {
                Ok(value)
            } else {
                Err(format!(
                    "{name} must be {production} in production, not {value}"
                ))
            }
        };
        Ok(Some(Self {
            app_id,
            slug,
            client_id: required("GITHUB_APP_CLIENT_ID")?,
            client_secret: required("GITHUB_APP_CLIENT_SECRET")?,
            key: AppKey::from_pem(&required("GITHUB_APP_PRIVATE_KEY")?)
                .map_err(|e| format!("GITHUB_APP_PRIVATE_KEY: {e}"))?,
            github: GitHub {
                api: endpoint("GITHUB_API", GITHUB_API)?,
                web: endpoint("GITHUB_WEB", GITHUB_WEB)?,
            },
            iam_api: endpoint("IAM_API", IAM_API)?,
            storage_api: endpoint("STORAGE_API", STORAGE_API)?,
            template: RepoName::parse(&var("GITHUB_TEMPLATE").unwrap_or_else(|| TEMPLATE.into()))
                .map_err(|e| format!("GITHUB_TEMPLATE: {e}"))?,
            google_certs_url: endpoint("GOOGLE_CERTS_URL", GOOGLE_CERTS_URL)?,
        }))
    }

    /// IAM and the Google APIs around it, for linking.
    pub fn iam_apis(&self, config: &crate::config::Config) -> IamApis {
        IamApis {
            iam: self.iam_api.clone(),
            crm: config.endpoints.crm_api.clone(),
            serviceusage: config.endpoints.serviceusage_api.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::app_jwt::tests::FIXTURE_PEM;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(v: &HashMap<String, String>, env: Environment) -> Result<Option<GitHubMode>, String> {
        GitHubMode::parse(&|k| v.get(k).cloned(), env)
    }

    fn app() -> HashMap<String, String> {
        vars(&[
            ("GITHUB_APP_ID", "123456"),
            ("GITHUB_APP_SLUG", "claw-free"),
            ("GITHUB_APP_CLIENT_ID", "Iv23abc"),
            ("GITHUB_APP_CLIENT_SECRET", "s3cret"),
            ("GITHUB_APP_PRIVATE_KEY", FIXTURE_PEM),
        ])
    }

    #[test]
    fn off_unless_configured_and_complete_once_on() {
        assert!(parse(&HashMap::new(), Environment::Production)
            .unwrap()
            .is_none());
        let mode = parse(&app(), Environment::Production).unwrap().unwrap();
        assert_eq!(mode.app_id, 123456);
        assert_eq!(mode.github.api, GITHUB_API);
        assert_eq!(mode.iam_api, IAM_API);
        assert_eq!(mode.google_certs_url, GOOGLE_CERTS_URL);
        let shown = format!("{mode:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("PRIVATE KEY"),
            "{shown}"
        );
        let mut missing = app();
        missing.remove("GITHUB_APP_PRIVATE_KEY");
        assert!(parse(&missing, Environment::Production)
            .unwrap_err()
            .contains("GITHUB_APP_PRIVATE_KEY"));
        let mut bad = app();
        bad.insert("GITHUB_APP_ID".into(), "claw-free".into());
        assert!(parse(&bad, Environment::Production).is_err());
    }

    #[test]
    fn production_talks_only_to_github_and_google() {
        let mut local = app();
        local.insert("GITHUB_API".into(), "http://127.0.0.1:9090".into());
        assert!(parse(&local, Environment::Development).unwrap().is_some());
        let err = parse(&local, Environment::Production).unwrap_err();
        assert!(err.contains("GITHUB_API"), "{err}");
        let mut spoof = app();
        spoof.insert(
            "IAM_API".into(),
            "https://iam.googleapis.com.evil.test".into(),
        );
        assert!(parse(&spoof, Environment::Production).is_err());
        // Google's keys decide which VM a token names: never anyone else's in production.
        let mut certs = app();
        certs.insert(
            "GOOGLE_CERTS_URL".into(),
            "https://keys.evil.test/certs".into(),
        );
        assert!(parse(&certs, Environment::Production)
            .unwrap_err()
            .contains("GOOGLE_CERTS_URL"));
    }
}
