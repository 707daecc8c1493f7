//! What linking a repository creates, as data: the names, request bodies, grants and
//! Actions variables of GitHub mode, derived from one [`Target`] (the bot's project and
//! VM, and the repository's id). Nothing here calls anyone; the linking flow sends
//! these, and the workflow template (`nix/template`) reads the same names.
//!
//! Who gets what: CI's service account may be impersonated only by the repository's
//! `main` branch (a Workload Identity provider whose condition names the repository's
//! immutable id, so a renamed or re-created repository of the same name gets nothing),
//! and may write the cache bucket and set the bot VM's metadata; the VM's service
//! account may only read the bucket.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use claw_free_protocol::names::is_valid_resource_name;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The Workload Identity pool and provider (one per project, shared by its bots).
pub const POOL_ID: &str = "claw-free";
pub const PROVIDER_ID: &str = "github";
/// GitHub Actions' OIDC issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The branch CI may deploy from.
pub const MAIN_REF: &str = "refs/heads/main";
/// Service accounts' ids (6 to 30 characters).
pub const CI_ACCOUNT_ID: &str = "claw-free-ci";
pub const VM_ACCOUNT_ID: &str = "claw-free-vm";
/// The repository's environment that holds the cache's signing key.
pub const ENVIRONMENT: &str = "deploy";
pub const SIGNING_KEY_SECRET: &str = "CLAW_CACHE_SIGNING_KEY";
/// The repository file that tells its flake the bucket and the cache's public key.
pub const CONFIG_FILE: &str = "claw-free.json";
/// The repository file naming the keys its secrets are encrypted to (the VM's).
pub const RECIPIENTS_FILE: &str = "secrets/recipients";
/// Where the repository keeps the bot's Telegram token once it is linked.
pub const TELEGRAM_TOKEN_FILE: &str = "secrets/telegram-token.age";
/// The branch CI deploys from, protected so that it changes only by pull request.
pub const MAIN_BRANCH: &str = "main";
/// The instance metadata key that marks a linked bot (the VM cannot write metadata).
pub const METADATA_KEY: &str = "openclaw-github";
/// The scope of the VM's tokens: reading the cache bucket, nothing else.
pub const VM_SCOPES: &[&str] = &["https://www.googleapis.com/auth/devstorage.read_only"];
/// What linking's installation tokens may do on the one repository: files, the
/// environment and its secret, Actions variables, and branch protection.
pub const LINK_PERMISSIONS: &[(&str, &str)] = &[
    ("contents", "write"),
    ("administration", "write"),
    ("environments", "write"),
    ("actions_variables", "write"),
];

/// The APIs linking needs enabled in the owner's project.
pub const SERVICES: &[&str] = &[
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "sts.googleapis.com",
    "storage.googleapis.com",
];

/// The bot and repository being linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub project_id: String,
    /// Workload Identity principals name the project by number only.
    pub project_number: String,
    pub zone: String,
    pub instance: String,
    /// GitHub's immutable repository id.
    pub repository_id: u64,
    /// `owner/name`.
    pub repository: String,
}

/// `claw-free.json`, the linked repository's description of itself: read by its flake,
/// by the Worker when the VM asks for a GitHub token, and by the VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepoConfig {
    pub repository: String,
    pub bucket: String,
    pub cache_public_key: String,
    pub bot: BotRef,
}

/// The bot a repository is linked to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BotRef {
    pub project: String,
    pub zone: String,
    pub instance: String,
    pub instance_id: String,
}

impl RepoConfig {
    /// Parses the file, refusing anything malformed: unknown fields, a repository that
    /// is not `owner/name`, a bucket or key that is not this project's cache's, a zone
    /// or instance Google would not accept, an id that is not a number.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self =
            serde_json::from_str(text).map_err(|e| format!("{CONFIG_FILE} does not parse: {e}"))?;
        super::client::RepoName::parse(&config.repository)?;
        let bot = &config.bot;
        let project_ok = crate::types::ProjectId::parse(&bot.project).is_ok();
        let zone_ok = crate::types::Zone::parse(&bot.zone).is_ok();
        let id_ok = !bot.instance_id.is_empty()
            && bot.instance_id.len() <= 20
            && bot.instance_id.bytes().all(|b| b.is_ascii_digit());
        let bucket = format!("claw-cache-{}", bot.project);
        let key_ok = config
            .cache_public_key
            .strip_prefix(&format!("{bucket}-1:"))
            .and_then(|k| STANDARD.decode(k).ok())
            .is_some_and(|k| k.len() == 32);
        if !(project_ok && zone_ok && is_valid_resource_name(&bot.instance) && id_ok) {
            return Err(format!("{CONFIG_FILE} names no valid bot"));
        }
        if config.bucket != bucket || !key_ok {
            return Err(format!("{CONFIG_FILE} names another cache than the bot's"));
        }
        Ok(config)
    }
}

/// The value of [`METADATA_KEY`] on a linked bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedMetadata {
    pub repository: String,
    pub repository_id: u64,
    pub installation_id: u64,
}

impl LinkedMetadata {
    pub fn parse(value: &str) -> Option<Self> {
        let parsed: Self = serde_json::from_str(value).ok()?;
        super::client::RepoName::parse(&parsed.repository).ok()?;
        Some(parsed)
    }
}

/// Where an IAM grant is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    ServiceAccount(String),
    Bucket(String),
    Instance,
}

/// One role for one member on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub resource: Resource,
    pub role: &'static str,
    pub member: String,
}

impl Target {
    fn email(&self, account: &str) -> String {
        format!("{account}@{}.iam.gserviceaccount.com", self.project_id)
    }

    pub fn ci_account(&self) -> String {
        self.email(CI_ACCOUNT_ID)
    }

    pub fn vm_account(&self) -> String {
        self.email(VM_ACCOUNT_ID)
    }

    /// The project's cache bucket (bucket names are global; project ids are too).
    pub fn bucket(&self) -> String {
        format!("claw-cache-{}", self.project_id)
    }

    /// The Nix signing key's name, which the cache's public key carries.
    pub fn signing_key_name(&self) -> String {
        format!("{}-1", self.bucket())
    }

    pub fn pool_name(&self) -> String {
        format!(
            "projects/{}/locations/global/workloadIdentityPools/{POOL_ID}",
            self.project_number
        )
    }

    /// The provider's full name: the workflow's `GCP_WORKLOAD_IDENTITY_PROVIDER`.
    pub fn provider_name(&self) -> String {
        format!("{}/providers/{PROVIDER_ID}", self.pool_name())
    }

    /// The body of `workloadIdentityPools.providers.create`.
    pub fn provider_body(&self) -> Value {
        json!({
            "displayName": "GitHub (claw.free)",
            "description": format!("GitHub Actions of repository {} on main", self.repository_id),
            "attributeMapping": {
                "google.subject": "assertion.sub",
                "attribute.repository_id": "assertion.repository_id",
                "attribute.ref": "assertion.ref",
            },
            "attributeCondition": format!(
                "assertion.repository_id == '{}' && assertion.ref == '{MAIN_REF}'",
                self.repository_id
            ),
            "oidc": { "issuerUri": GITHUB_ISSUER },
        })
    }

    /// The principal set of the repository's tokens (those the provider lets in).
    pub fn repository_principals(&self) -> String {
        format!(
            "principalSet://iam.googleapis.com/{}/attribute.repository_id/{}",
            self.pool_name(),
            self.repository_id
        )
    }

    /// Every grant linking makes: on what, which role, to whom.
    pub fn grants(&self) -> Vec<Grant> {
        let ci = format!("serviceAccount:{}", self.ci_account());
        let vm = format!("serviceAccount:{}", self.vm_account());
        let bucket = || Resource::Bucket(self.bucket());
        [
            (
                Resource::ServiceAccount(self.ci_account()),
                "roles/iam.workloadIdentityUser",
                self.repository_principals(),
            ),
            // Setting the metadata of a VM that runs as a service account needs actAs on it.
            (
                Resource::ServiceAccount(self.vm_account()),
                "roles/iam.serviceAccountUser",
                ci.clone(),
            ),
            (bucket(), "roles/storage.objectAdmin", ci.clone()),
            (bucket(), "roles/storage.objectViewer", vm),
            (Resource::Instance, "roles/compute.instanceAdmin.v1", ci),
        ]
        .into_iter()
        .map(|(resource, role, member)| Grant {
            resource,
            role,
            member,
        })
        .collect()
    }

    /// The Actions variables the workflow reads.
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GCP_WORKLOAD_IDENTITY_PROVIDER", self.provider_name()),
            ("GCP_CI_SERVICE_ACCOUNT", self.ci_account()),
            ("GCP_PROJECT", self.project_id.clone()),
            ("GCP_ZONE", self.zone.clone()),
            ("BOT_INSTANCE", self.instance.clone()),
            ("CLAW_CACHE_BUCKET", self.bucket()),
        ]
    }

    /// `claw-free.json` ([`RepoConfig`]), for the VM whose numeric id is `instance_id`.
    pub fn config(&self, cache_public_key: &str, instance_id: &str) -> RepoConfig {
        RepoConfig {
            repository: self.repository.clone(),
            bucket: self.bucket(),
            cache_public_key: cache_public_key.to_string(),
            bot: BotRef {
                project: self.project_id.clone(),
                zone: self.zone.clone(),
                instance: self.instance.clone(),
                instance_id: instance_id.to_string(),
            },
        }
    }

    /// `claw-free.json` as committed.
    pub fn config_file(&self, cache_public_key: &str, instance_id: &str) -> String {
        let mut text = serde_json::to_string_pretty(&self.config(cache_public_key, instance_id))
            .unwrap_or_default();
        text.push('\n');
        text
    }

    /// `secrets/recipients`: the VM's pinned key, the one every secret is encrypted to.
    pub fn recipients_file(&self, recipient: &str) -> String {
        format!(
            "# The VM's SSH host key ({}): every secrets/*.age is encrypted to it.\n{recipient}\n",
            self.instance
        )
    }

    /// The value of [`METADATA_KEY`].
    pub fn metadata(&self, installation_id: u64) -> LinkedMetadata {
        LinkedMetadata {
            repository: self.repository.clone(),
            repository_id: self.repository_id,
            installation_id,
        }
    }

    /// Whether every name derived from the target is one Google accepts.
    pub fn names_are_valid(&self) -> bool {
        let bucket = self.bucket();
        is_valid_resource_name(&self.instance)
            && self.project_number.bytes().all(|b| b.is_ascii_digit())
            && !self.project_number.is_empty()
            && bucket.len() <= 63
            && !bucket.contains("goog")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8412345678901234567";

    fn target() -> Target {
        Target {
            project_id: "claw-demo".into(),
            project_number: "123456789012".into(),
            zone: "us-east1-b".into(),
            instance: "my-bot-010203".into(),
            repository_id: 42,
            repository: "ada-lovelace/my-bot".into(),
        }
    }

    #[test]
    fn only_the_repositorys_main_branch_may_act_as_ci() {
        let t = target();
        let body = t.provider_body();
        assert_eq!(
            body["attributeCondition"],
            "assertion.repository_id == '42' && assertion.ref == 'refs/heads/main'"
        );
        assert_eq!(body["oidc"]["issuerUri"], GITHUB_ISSUER);
        assert_eq!(
            t.repository_principals(),
            "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/claw-free/attribute.repository_id/42"
        );
        let impersonators: Vec<Grant> = t
            .grants()
            .into_iter()
            .filter(|g| g.resource == Resource::ServiceAccount(t.ci_account()))
            .collect();
        assert_eq!(impersonators.len(), 1);
        assert_eq!(impersonators[0].member, t.repository_principals());
    }

    #[test]
    fn the_vm_may_only_read_the_bucket() {
        let t = target();
        let vm = format!("serviceAccount:{}", t.vm_account());
        let vm_grants: Vec<Grant> = t.grants().into_iter().filter(|g| g.member == vm).collect();
        assert_eq!(
            vm_grants,
            vec![Grant {
                resource: Resource::Bucket("claw-cache-claw-demo".into()),
                role: "roles/storage.objectViewer",
                member: vm,
            }]
        );
    }

    #[test]
    fn the_workflow_gets_its_variables_and_config_file() {
        let t = target();
        let vars: std::collections::BTreeMap<_, _> = t.variables().into_iter().collect();
        assert_eq!(
            vars["GCP_CI_SERVICE_ACCOUNT"],
            "claw-free-ci@claw-demo.iam.gserviceaccount.com"
        );
        assert_eq!(vars["GCP_WORKLOAD_IDENTITY_PROVIDER"], t.provider_name());
        assert_eq!(vars["BOT_INSTANCE"], "my-bot-010203");
        assert_eq!(vars.len(), 6);
        let key = format!("claw-cache-claw-demo-1:{}", STANDARD.encode([7u8; 32]));
        let text = t.config_file(&key, ID);
        let config: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            config,
            json!({
                "repository": "ada-lovelace/my-bot",
                "bucket": "claw-cache-claw-demo",
                "cachePublicKey": key,
                "bot": {"project": "claw-demo", "zone": "us-east1-b",
                        "instance": "my-bot-010203", "instanceId": "8412345678901234567"},
            })
        );
        assert_eq!(RepoConfig::parse(&text).unwrap(), t.config(&key, ID));
        assert!(t.names_are_valid());
        assert!(!Target {
            project_number: "claw-demo".into(),
            ..t
        }
        .names_are_valid());
    }

    #[test]
    fn a_malformed_config_file_is_refused() {
        let t = target();
        let key = format!("claw-cache-claw-demo-1:{}", STANDARD.encode([7u8; 32]));
        let good: Value = serde_json::from_str(&t.config_file(&key, ID)).unwrap();
        let with = |pointer: &str, value: Value| {
            let mut v = good.clone();
            *v.pointer_mut(pointer).unwrap() = value;
            v.to_string()
        };
        for bad in [
            "".to_string(),
            "[]".into(),
            with("/repository", json!("no-slash")),
            with("/bucket", json!("claw-cache-someone-else")),
            with("/cachePublicKey", json!("claw-cache-claw-demo-1:short")),
            with(
                "/cachePublicKey",
                json!(format!("other-1:{}", STANDARD.encode([7u8; 32]))),
            ),
            with("/bot/instanceId", json!("12a")),
            with("/bot/instanceId", json!(12)),
            with("/bot/zone", json!("../x")),
            with("/bot/instance", json!("Bad Name")),
            {
                let mut v = good.clone();
                v["extra"] = json!(1);
                v.to_string()
            },
        ] {
            assert!(RepoConfig::parse(&bad).is_err(), "{bad}");
        }
        assert!(RepoConfig::parse(&good.to_string()).is_ok());
    }

    /// The names after `prefix` in `text` (`vars.NAME`, `secrets.NAME`, `link.name`).
    fn names_after(text: &str, prefix: &str) -> std::collections::BTreeSet<String> {
        text.match_indices(prefix)
            .filter(|(i, _)| {
                !text[..*i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
            })
            .map(|(i, _)| {
                text[i + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .filter(|n| !n.is_empty())
            .collect()
    }

    fn template(path: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("nix/template");
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_template_reads_exactly_the_names_linking_writes() {
        let t = target();
        let workflow = template(".github/workflows/deploy.yml");
        let written: std::collections::BTreeSet<String> =
            t.variables().iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            names_after(&workflow, "vars."),
            written,
            "Actions variables"
        );
        assert_eq!(
            names_after(&workflow, "secrets."),
            [SIGNING_KEY_SECRET.to_string()].into(),
            "secrets"
        );
        let environments: Vec<&str> = workflow
            .lines()
            .filter_map(|l| l.trim().strip_prefix("environment:"))
            .map(str::trim)
            .collect();
        assert_eq!(environments, vec![ENVIRONMENT]);

        // The flake reads the config file linking commits, and only fields it has.
        let flake = template("flake.nix");
        assert!(
            flake.contains(&format!("builtins.readFile ./{CONFIG_FILE}")),
            "the flake reads {CONFIG_FILE}"
        );
        let key = format!("claw-cache-claw-demo-1:{}", STANDARD.encode([7u8; 32]));
        let config = serde_json::to_value(t.config(&key, ID)).unwrap();
        let fields: std::collections::BTreeSet<String> =
            config.as_object().unwrap().keys().cloned().collect();
        let mut read = names_after(&flake, "link.");
        for (i, _) in flake.match_indices("inherit (link)") {
            let rest = &flake[i + "inherit (link)".len()..];
            let names = rest.split(';').next().unwrap_or_default();
            read.extend(names.split_whitespace().map(str::to_string));
        }
        assert!(
            read.contains("bucket") && read.contains("cachePublicKey"),
            "{read:?}"
        );
        assert!(
            !read.is_empty() && read.is_subset(&fields),
            "{read:?} of {fields:?}"
        );
        assert!(template(CONFIG_FILE).contains("cachePublicKey"));

        // The secrets' README names the recipients file and the token's file.
        let readme = template("secrets/README.md");
        for path in [RECIPIENTS_FILE, TELEGRAM_TOKEN_FILE] {
            assert!(
                readme.contains(path),
                "secrets/README.md does not name {path}"
            );
        }
    }
}
