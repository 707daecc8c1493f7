//! A bot as the bot list shows it: its VM, and its health read from the `openclaw/`
//! guest attributes as a green, red or grey light.

use crate::google::compute::{GuestAttributes, Instance};
use claw_free_protocol::guest::{Health, HealthLight};
use claw_free_protocol::{labels, metadata};
use serde::Serialize;

/// One bot (docs/CONTRACTS.md section 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bot {
    pub project_id: String,
    pub zone: String,
    pub vm_name: String,
    pub bot_name: String,
    /// GCE's status: PROVISIONING, STAGING, RUNNING, STOPPING, STOPPED, TERMINATED, ...
    pub status: String,
    pub machine_type: String,
    pub ip: Option<String>,
    /// RFC 3339, as Google gives it.
    pub created_at: String,
    pub health: HealthLight,
    pub health_detail: String,
    pub setup: Option<String>,
    pub secret_version: Option<u64>,
    /// The VM publishes another encryption key than the one pinned for it: secrets
    /// are refused until the owner trusts the new key (`POST .../rekey`).
    pub key_changed: bool,
    /// GitHub mode's rollouts; absent for a bot that never had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::rollouts::Rollout>,
    /// The GitHub repository the bot is linked to; absent in local mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github: Option<LinkedRepository>,
}

/// A linked bot's repository, from its `openclaw-github` metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkedRepository {
    pub repository: String,
    pub url: String,
}

/// The repository `instance` is linked to, on GitHub at `web` (`https://github.com`).
pub fn linked_repository(instance: &Instance, web: &str) -> Option<LinkedRepository> {
    let value = instance
        .metadata
        .items
        .iter()
        .find(|item| item.key == crate::github::plan::METADATA_KEY)?;
    let linked = crate::github::plan::LinkedMetadata::parse(&value.value)?;
    Some(LinkedRepository {
        url: format!("{web}/{}", linked.repository),
        repository: linked.repository,
    })
}

/// A project whose bots could not be listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectError {
    pub project_id: String,
    pub error: String,
}

/// `GET /api/deploy/existing`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BotList {
    pub vms: Vec<Bot>,
    pub errors: Vec<ProjectError>,
}

/// What the guest attributes of a running bot said.
#[derive(Debug, Clone)]
pub enum Report {
    /// The VM is not running: it reports nothing.
    NotRunning,
    /// Google did not give the attributes.
    Unreadable,
    Read(GuestAttributes),
}

/// The bot view of `instance` at `now`; a health report older than `stale_after`
/// seconds turns the light red.
pub fn bot(project: &str, instance: &Instance, report: &Report, now: u64, stale_after: u64) -> Bot {
    let attributes = match report {
        Report::Read(attributes) => Some(attributes),
        _ => None,
    };
    let (health, health_detail) = health(instance, report, now, stale_after);
    Bot {
        project_id: project.to_string(),
        zone: instance.zone_name().to_string(),
        vm_name: instance.name.clone(),
        bot_name: display_name(instance),
        status: instance.status.clone(),
        machine_type: instance.machine_type_name().to_string(),
        ip: instance.external_ip(),
        created_at: instance.creation_timestamp.clone(),
        health,
        health_detail,
        setup: attributes.and_then(|a| a.setup()).map(|s| s.to_string()),
        secret_version: attributes.and_then(GuestAttributes::secret_version),
        key_changed: attributes
            .is_some_and(|a| crate::vm::secrets::key_changed(&instance.metadata, a.recipient())),
        rollout: attributes.and_then(crate::rollouts::view),
        github: None,
    }
}

/// The name the person gave: `BOT_NAME` from metadata, else the label's slug.
fn display_name(instance: &Instance) -> String {
    instance
        .metadata
        .items
        .iter()
        .find(|item| item.key == metadata::BOT_NAME && !item.value.trim().is_empty())
        .map(|item| item.value.clone())
        .or_else(|| instance.labels.get(labels::BOT).cloned())
        .unwrap_or_else(|| instance.name.clone())
}

fn health(
    instance: &Instance,
    report: &Report,
    now: u64,
    stale_after: u64,
) -> (HealthLight, String) {
    let grey = |detail: &str| (HealthLight::Grey, detail.to_string());
    let attributes = match report {
        Report::NotRunning => {
            return grey(&format!("Not running ({})", instance.status.to_lowercase()))
        }
        Report::Unreadable => return grey("Health unknown: Google did not answer"),
        Report::Read(attributes) => attributes,
    };
    let Some(health) = attributes.health() else {
        return grey("No health report yet");
    };
    let age = now.saturating_sub(health.at());
    match (health.light(now, stale_after), &health) {
        (HealthLight::Green, _) => (
            HealthLight::Green,
            format!("Healthy, checked {} ago", ago(age)),
        ),
        (light, Health::Failing { reason, .. }) if age <= stale_after => {
            (light, format!("Failing: {reason}"))
        }
        (light, _) => (light, format!("No health report for {}", ago(age))),
    }
}

/// "40 s", "3 min", "2 h".
fn ago(secs: u64) -> String {
    match secs {
        0..=89 => format!("{secs} s"),
        90..=5399 => format!("{} min", (secs + 30) / 60),
        _ => format!("{} h", (secs + 1800) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_764_000_000;

    fn instance(status: &str) -> Instance {
        serde_json::from_value(json!({
            "name": "my-bot-010203", "status": status,
            "zone": "https://www.googleapis.com/compute/v1/projects/claw-demo/zones/us-east1-b",
            "machineType": "https://www.googleapis.com/compute/v1/projects/claw-demo/zones/us-east1-b/machineTypes/e2-micro",
            "creationTimestamp": "2025-11-24T08:00:00.000-08:00",
            "labels": {"claw-free": "bot", "claw-free-bot": "my-bot"},
            "networkInterfaces": [{"accessConfigs": [{"natIP": "34.1.2.3"}]}],
            "metadata": {"items": [{"key": "BOT_NAME", "value": "My Bot 🤖"}]}
        }))
        .unwrap()
    }

    fn read(pairs: &[(&str, &str)]) -> Report {
        Report::Read(GuestAttributes(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    #[test]
    fn health_lights() {
        let running = instance("RUNNING");
        let light = |report: Report| {
            let b = bot("claw-demo", &running, &report, NOW, 180);
            (b.health, b.health_detail)
        };
        let ok = format!("ok {}", NOW - 40);
        assert_eq!(
            light(read(&[("health", &ok)])),
            (HealthLight::Green, "Healthy, checked 40 s ago".into())
        );
        let failing = format!("failing {} connection refused", NOW - 30);
        assert_eq!(
            light(read(&[("health", &failing)])),
            (HealthLight::Red, "Failing: connection refused".into())
        );
        let stale = format!("ok {}", NOW - 600);
        assert_eq!(
            light(read(&[("health", &stale)])),
            (HealthLight::Red, "No health report for 10 min".into())
        );
        assert_eq!(light(read(&[("setup", "starting")])).0, HealthLight::Grey);
        assert_eq!(light(Report::Unreadable).0, HealthLight::Grey);
        let stopped = bot(
            "claw-demo",
            &instance("TERMINATED"),
            &Report::NotRunning,
            NOW,
            180,
        );
        assert_eq!(
            (stopped.health, stopped.health_detail.as_str()),
            (HealthLight::Grey, "Not running (terminated)")
        );
    }

    #[test]
    fn the_view_has_what_the_list_shows() {
        let b = bot(
            "claw-demo",
            &instance("RUNNING"),
            &read(&[("setup", "ready"), ("secret-version", "1764000000123")]),
            NOW,
            180,
        );
        let value = serde_json::to_value(&b).unwrap();
        assert_eq!(value["projectId"], "claw-demo");
        assert_eq!(value["zone"], "us-east1-b");
        assert_eq!(value["vmName"], "my-bot-010203");
        assert_eq!(value["botName"], "My Bot 🤖");
        assert_eq!(value["machineType"], "e2-micro");
        assert_eq!(value["ip"], "34.1.2.3");
        assert_eq!(value["createdAt"], "2025-11-24T08:00:00.000-08:00");
        assert_eq!(value["health"], "grey");
        assert_eq!(value["setup"], "ready");
        assert_eq!(value["secretVersion"], 1_764_000_000_123u64);
    }
}
