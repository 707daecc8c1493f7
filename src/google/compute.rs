//! Compute Engine v1: the bot's instance (create, read, delete, list by label), its
//! zone operations, its guest attributes (how the VM talks back), its metadata (how
//! encrypted secrets reach it) and its serial output (how a person sees why it failed).

use super::iam::set_iam_policy;
use super::{Google, GoogleFailure};
use crate::config::Config;
use crate::http::{encode, OutboundRequest};
use crate::ports::HttpClient;
use crate::types::{BotName, ProjectId, Provider, TelegramUserId, VmName, Zone};
use claw_free_protocol::google::OperationError;
use claw_free_protocol::{guest, labels, metadata};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The free-tier machine type.
pub const MACHINE_TYPE: &str = "e2-micro";
/// The boot disk: 30 GB is the free tier's standard persistent disk allowance.
pub const DISK_SIZE_GB: u32 = 30;
pub const DISK_TYPE: &str = "pd-standard";

/// Everything that names one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRef {
    pub project: ProjectId,
    pub zone: Zone,
    pub name: VmName,
}

/// A zone of a project, under which its instances and operations are.
fn zone_url(config: &Config, project: &ProjectId, zone: &Zone) -> String {
    format!(
        "{}/compute/v1/projects/{}/zones/{}",
        config.endpoints.compute_api,
        encode(project.as_str()),
        zone.as_str()
    )
}

impl InstanceRef {
    fn url(&self, config: &Config) -> String {
        let zone = zone_url(config, &self.project, &self.zone);
        format!("{zone}/instances/{}", self.name.as_str())
    }

    /// The serial console in Google's Cloud console, for the "View logs" link.
    pub fn console_url(&self, config: &Config) -> String {
        format!(
            "{}/compute/instancesDetail/zones/{}/instances/{}/console?port=1&project={}",
            config.endpoints.console_url,
            self.zone.as_str(),
            self.name.as_str(),
            encode(self.project.as_str())
        )
    }
}

/// The body of `instances.insert` for a new bot: an e2-micro booting claw.free's NixOS
/// image, with an external address, labels that mark it as a bot, and metadata that
/// carries no secret and no startup script. With `owner`, the bot answers only that
/// Telegram user.
pub fn instance_body(
    config: &Config,
    instance: &InstanceRef,
    bot: &BotName,
    provider: Provider,
    owner: Option<TelegramUserId>,
) -> Value {
    let zone = instance.zone.as_str();
    let mut items = vec![
        json!({"key": metadata::LLM_PROVIDER, "value": provider.as_str()}),
        json!({"key": metadata::BOT_NAME, "value": bot.display()}),
        json!({"key": metadata::ENABLE_GUEST_ATTRIBUTES, "value": "TRUE"}),
        json!({"key": metadata::ENABLE_OSLOGIN, "value": "TRUE"}),
    ];
    if let Some(owner) = owner {
        items.push(json!({"key": metadata::TELEGRAM_OWNER_ID, "value": owner.to_string()}));
    }
    json!({
        "name": instance.name.as_str(),
        "description": "An OpenClaw bot deployed by claw.free",
        "machineType": format!("zones/{zone}/machineTypes/{MACHINE_TYPE}"),
        "labels": {
            labels::MANAGED: labels::MANAGED_VALUE,
            labels::BOT: bot.slug(),
        },
        "disks": [{
            "boot": true,
            "autoDelete": true,
            "type": "PERSISTENT",
            "initializeParams": {
                "sourceImage": config.image,
                "diskSizeGb": DISK_SIZE_GB.to_string(),
                "diskType": format!("zones/{zone}/diskTypes/{DISK_TYPE}"),
            },
        }],
        "networkInterfaces": [{
            "network": "global/networks/default",
            "accessConfigs": [{"type": "ONE_TO_ONE_NAT", "name": "External NAT", "networkTier": "STANDARD"}],
        }],
        "metadata": {"items": items},
        "scheduling": {"automaticRestart": true, "onHostMaintenance": "MIGRATE"},
        "shieldedInstanceConfig": {"enableSecureBoot": false, "enableVtpm": true, "enableIntegrityMonitoring": true},
    })
}

/// A zone operation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub error: Option<OperationError>,
}

impl Operation {
    pub fn is_done(&self) -> bool {
        self.status == "DONE"
    }
}

/// The parts of an instance claw.free reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// Google's numeric id (a uint64 as a string), which never names another VM.
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub zone: String,
    #[serde(default)]
    pub machine_type: String,
    #[serde(default)]
    pub creation_timestamp: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub network_interfaces: Vec<NetworkInterface>,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub service_accounts: Vec<AttachedAccount>,
}

/// The service account a VM runs as, and the scopes its tokens carry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AttachedAccount {
    pub email: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    #[serde(default)]
    pub access_configs: Vec<AccessConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessConfig {
    #[serde(default, rename = "natIP")]
    pub nat_ip: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default)]
    pub fingerprint: String,
    #[serde(default)]
    pub items: Vec<MetadataItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataItem {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

impl Instance {
    pub fn external_ip(&self) -> Option<String> {
        self.network_interfaces
            .iter()
            .flat_map(|n| &n.access_configs)
            .find_map(|a| a.nat_ip.clone())
    }

    /// `e2-micro` from the machine type URL.
    pub fn machine_type_name(&self) -> &str {
        last_segment(&self.machine_type)
    }

    /// `us-central1-a` from the zone URL.
    pub fn zone_name(&self) -> &str {
        last_segment(&self.zone)
    }

    pub fn is_running(&self) -> bool {
        self.status == "RUNNING"
    }

    /// Stopped VMs can be deleted from the bot list; running ones cannot.
    pub fn is_stopped(&self) -> bool {
        matches!(self.status.as_str(), "STOPPED" | "TERMINATED" | "SUSPENDED")
    }
}

fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The `openclaw/` guest attributes, by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestAttributes(pub BTreeMap<String, String>);

impl GuestAttributes {
    /// Attributes from `(key, value)` pairs, as the tests write them.
    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn setup(&self) -> Option<guest::SetupState> {
        self.get(guest::SETUP).and_then(guest::SetupState::parse)
    }

    pub fn health(&self) -> Option<guest::Health> {
        self.get(guest::HEALTH).and_then(guest::Health::parse)
    }

    /// The recipient the VM publishes now, as it wrote it (see `vm::secrets::VmRecipient`).
    pub fn recipient(&self) -> Option<&str> {
        self.get(guest::RECIPIENT)
    }

    pub fn secret_version(&self) -> Option<u64> {
        self.get(guest::SECRET_VERSION)
            .and_then(|v| v.trim().parse().ok())
    }

    pub fn secret_error(&self) -> Option<guest::SecretError> {
        self.get(guest::SECRET_ERROR)
            .and_then(guest::SecretError::parse)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GuestAttributesResponse {
    #[serde(default)]
    query_value: Option<QueryValue>,
}

#[derive(Deserialize)]
struct QueryValue {
    #[serde(default)]
    items: Vec<GuestAttributeItem>,
}

#[derive(Deserialize)]
struct GuestAttributeItem {
    #[serde(default)]
    namespace: String,
    key: String,
    #[serde(default)]
    value: String,
}

/// A change of a VM's power or account, each one of the instance's own methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// `instances.stop`; the VM goes through STOPPING to TERMINATED.
    Stop,
    /// `instances.start` of a stopped VM.
    Start,
    /// `instances.setServiceAccount`; Google accepts it only while the VM is stopped.
    ServiceAccount {
        email: &'a str,
        scopes: &'a [&'a str],
    },
}

/// The most serial output a response carries.
pub const SERIAL_TAIL_BYTES: usize = 32 * 1024;

#[derive(Deserialize)]
struct AggregatedList {
    #[serde(default)]
    items: BTreeMap<String, ScopedList>,
    #[serde(default, rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct ScopedList {
    #[serde(default)]
    instances: Vec<Instance>,
}

/// Compute Engine's calls, with the caller's token: `google.compute()`.
pub struct Compute<'a, H>(pub(super) Google<'a, H>);

impl<H: HttpClient> Compute<'_, H> {
    fn url(&self, instance: &InstanceRef) -> String {
        instance.url(self.0.config)
    }

    pub async fn insert(
        self,
        instance: &InstanceRef,
        body: &Value,
    ) -> Result<Operation, GoogleFailure> {
        let zone = zone_url(self.0.config, &instance.project, &instance.zone);
        self.0
            .bearer
            .post_json(format!("{zone}/instances"), body)
            .await
    }

    pub async fn get(self, instance: &InstanceRef) -> Result<Instance, GoogleFailure> {
        self.0.bearer.get_json(self.url(instance)).await
    }

    pub async fn delete(self, instance: &InstanceRef) -> Result<Operation, GoogleFailure> {
        let request = OutboundRequest::delete(self.url(instance));
        self.0.bearer.send(request).await
    }

    pub async fn get_operation(
        self,
        project: &ProjectId,
        zone: &Zone,
        operation: &str,
    ) -> Result<Operation, GoogleFailure> {
        let url = format!(
            "{}/operations/{}",
            zone_url(self.0.config, project, zone),
            encode(operation)
        );
        self.0.bearer.get_json(url).await
    }

    /// The `openclaw/` guest attributes; none yet (Google answers 404) is an empty set.
    pub async fn guest_attributes(
        self,
        instance: &InstanceRef,
    ) -> Result<GuestAttributes, GoogleFailure> {
        let url = format!(
            "{}/getGuestAttributes?queryPath={}",
            self.url(instance),
            encode(guest::QUERY_PATH)
        );
        match self.0.bearer.get_json::<GuestAttributesResponse>(url).await {
            Ok(response) => Ok(GuestAttributes(
                response
                    .query_value
                    .map(|q| q.items)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|item| item.namespace.is_empty() || item.namespace == guest::NAMESPACE)
                    .map(|item| (item.key, item.value))
                    .collect(),
            )),
            Err(GoogleFailure::NotFound(_)) => Ok(GuestAttributes::default()),
            Err(other) => Err(other),
        }
    }

    /// Asks Google for `change` of the instance.
    pub async fn change(
        self,
        instance: &InstanceRef,
        change: Change<'_>,
    ) -> Result<Operation, GoogleFailure> {
        let (method, body) = match change {
            Change::Stop => ("stop", json!({})),
            Change::Start => ("start", json!({})),
            Change::ServiceAccount { email, scopes } => (
                "setServiceAccount",
                json!({ "email": email, "scopes": scopes }),
            ),
        };
        let url = format!("{}/{method}", self.url(instance));
        self.0.bearer.post_json(url, &body).await
    }

    /// Grants `role` to `member` on this one instance (its own IAM policy).
    pub async fn grant_on_instance(
        self,
        instance: &InstanceRef,
        role: &str,
        member: &str,
    ) -> Result<(), GoogleFailure> {
        let base = self.url(instance);
        self.0
            .bearer
            .grant_with(
                || {
                    OutboundRequest::get(format!(
                        "{base}/getIamPolicy?optionsRequestedPolicyVersion=1"
                    ))
                },
                |policy| set_iam_policy(format!("{base}/setIamPolicy"), policy),
                role,
                member,
            )
            .await
    }

    /// Replaces the instance's metadata; Google refuses (412) when `fingerprint` is stale.
    pub async fn set_metadata(
        self,
        instance: &InstanceRef,
        metadata: &Metadata,
    ) -> Result<Operation, GoogleFailure> {
        let url = format!("{}/setMetadata", self.url(instance));
        let body = serde_json::to_value(metadata).unwrap_or_default();
        self.0.bearer.post_json(url, &body).await
    }

    /// The tail of serial port 1.
    pub async fn serial_tail(self, instance: &InstanceRef) -> Result<String, GoogleFailure> {
        let url = format!("{}/serialPort?port=1", self.url(instance));
        let output: Value = self.0.bearer.get_json(url).await?;
        let contents = output["contents"].as_str().unwrap_or_default();
        let cut = contents.len().saturating_sub(SERIAL_TAIL_BYTES);
        let start = (cut..=contents.len())
            .find(|i| contents.is_char_boundary(*i))
            .unwrap_or(contents.len());
        Ok(contents[start..].to_string())
    }

    /// Every claw.free bot in a project (by label), across zones.
    pub async fn list_bots(self, project: &ProjectId) -> Result<Vec<Instance>, GoogleFailure> {
        let mut bots = Vec::new();
        let url = format!(
            "{}/compute/v1/projects/{}/aggregated/instances?filter={}&maxResults=100",
            self.0.config.endpoints.compute_api,
            encode(project.as_str()),
            encode(&labels::managed_filter())
        );
        self.0
            .bearer
            .paged(&url, 5, |list: AggregatedList| {
                bots.extend(
                    list.items
                        .into_values()
                        .flat_map(|scope| scope.instances)
                        .filter(|i| {
                            i.labels.get(labels::MANAGED).map(String::as_str)
                                == Some(labels::MANAGED_VALUE)
                        }),
                );
                list.next_page_token
            })
            .await?;
        Ok(bots)
    }
}

#[cfg(test)]
mod tests;
