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
}

/// The bot a repository belongs to, as `claw-free.json` names it: the one VM that may
/// ask the Worker for a token to propose changes to the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BotRef {
    pub project: String,
    pub zone: String,
    pub instance: String,
    /// GCE's numeric instance id, as a string: a re-created VM of the same name differs.
    pub instance_id: String,
}

/// `claw-free.json` at the linked repository's root, read by the flake, by the Worker
/// when the VM asks for a GitHub token, and by the VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepoConfig {
    pub repository: String,
    pub bucket: String,
    pub cache_public_key: String,
    pub bot: BotRef,
}

impl RepoConfig {
    /// The file's text; anything malformed (a missing or extra field, a wrong type, a
    /// repository that is not `owner/name`, an empty or non-numeric instance id) is refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self =
            serde_json::from_str(text).map_err(|e| format!("{CONFIG_FILE} is not valid: {e}"))?;
        super::client::RepoName::parse(&config.repository)
            .map_err(|e| format!("{CONFIG_FILE}: {e}"))?;
        let bot = &config.bot;
        let id_ok = !bot.instance_id.is_empty()
            && bot.instance_id.len() <= 20
            && bot.instance_id.bytes().all(|b| b.is_ascii_digit());
        let names_ok = [&bot.project, &bot.zone, &bot.instance]
            .iter()
            .all(|n| is_valid_resource_name(n));
        if !(id_ok && names_ok) {
            return Err(format!(
                "{CONFIG_FILE}: bot must name a project, zone, instance and numeric instanceId"
            ));
        }
        Ok(config)
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

    /// Every grant linking makes.
    pub fn grants(&self) -> Vec<Grant> {
        let ci = format!("serviceAccount:{}", self.ci_account());
        let vm = format!("serviceAccount:{}", self.vm_account());
        vec![
            Grant {
                resource: Resource::ServiceAccount(self.ci_account()),
                role: "roles/iam.workloadIdentityUser",
                member: self.repository_principals(),
            },
            // Setting the metadata of a VM that runs as a service account needs actAs on it.
            Grant {
                resource: Resource::ServiceAccount(self.vm_account()),
                role: "roles/iam.serviceAccountUser",
                member: ci.clone(),
            },
            Grant {
                resource: Resource::Bucket(self.bucket()),
                role: "roles/storage.objectAdmin",
                member: ci.clone(),
            },
            Grant {
                resource: Resource::Bucket(self.bucket()),
                role: "roles/storage.objectViewer",
                member: vm,
            },
            Grant {
                resource: Resource::Instance,
                role: "roles/compute.instanceAdmin.v1",
                member: ci,
            },
        ]
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

    /// `claw-free.json`, which the repository's flake passes to the VM's substituter.
    pub fn config_file(&self, cache_public_key: &str) -> String {
        let mut text = serde_json::to_string_pretty(&json!({
            "bucket": self.bucket(),
            "cachePublicKey": cache_public_key,
        }))
        .unwrap_or_default();
        text.push('\n');
        text
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

    fn target() -> Target {
        Target {
            project_id: "claw-demo".into(),
            project_number: "123456789012".into(),
            zone: "us-east1-b".into(),
            instance: "my-bot-010203".into(),
            repository_id: 42,
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
        let config: Value =
            serde_json::from_str(&t.config_file("claw-cache-claw-demo-1:AAAA")).unwrap();
        assert_eq!(
            config,
            json!({"bucket": "claw-cache-claw-demo", "cachePublicKey": "claw-cache-claw-demo-1:AAAA"})
        );
        assert!(t.names_are_valid());
        assert!(!Target {
            project_number: "claw-demo".into(),
            ..t
        }
        .names_are_valid());
    }

    #[test]
    fn the_repository_config_is_parsed_strictly() {
        let good = json!({
            "repository": "ada-lovelace/my-bot",
            "bucket": "claw-cache-claw-demo",
            "cachePublicKey": "claw-cache-claw-demo-1:AAAA",
            "bot": {"project": "claw-demo", "zone": "us-east1-b",
                    "instance": "my-bot-010203", "instanceId": "4242"},
        });
        let config = RepoConfig::parse(&good.to_string()).unwrap();
        assert_eq!(config.bot.instance_id, "4242");
        assert_eq!(serde_json::to_value(&config).unwrap(), good);
        let mutate = |f: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            f(&mut v);
            v.to_string()
        };
        for bad in [
            String::new(),
            "[]".into(),
            mutate(&|v| v["bot"]["instanceId"] = json!(4242)),
            mutate(&|v| v["bot"]["instanceId"] = json!("")),
            mutate(&|v| v["bot"]["instanceId"] = json!("12a")),
            mutate(&|v| v["repository"] = json!("no-slash")),
            mutate(&|v| v["bot"]["instance"] = json!("Bad Name")),
            mutate(&|v| v["extra"] = json!(1)),
            mutate(&|v| {
                v.as_object_mut().unwrap().remove("bot");
            }),
        ] {
            assert!(RepoConfig::parse(&bad).is_err(), "{bad}");
        }
    }
}
