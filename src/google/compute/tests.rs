//! Compute requests and answers.

use super::*;
use crate::config::tests::development_config;

#[test]
fn the_instance_body_is_a_free_tier_bot_without_secrets() {
    let config = development_config();
    let bot = BotName::parse("My Bot").unwrap();
    let instance = InstanceRef {
        project: ProjectId::parse("claw-demo").unwrap(),
        zone: Zone::parse("us-central1-a").unwrap(),
        name: bot.vm_name([1, 2, 3]),
    };
    let body = instance_body(&config, &instance, &bot, Provider::Claude, None);
    assert_eq!(body["name"], "my-bot-010203");
    assert_eq!(
        body["machineType"],
        "zones/us-central1-a/machineTypes/e2-micro"
    );
    let disk = &body["disks"][0]["initializeParams"];
    assert_eq!(
        disk["sourceImage"],
        "projects/claw-free-images/global/images/family/nixos-openclaw"
    );
    assert_eq!(disk["diskSizeGb"], "30");
    assert_eq!(
        disk["diskType"],
        "zones/us-central1-a/diskTypes/pd-standard"
    );
    assert_eq!(
        body["networkInterfaces"][0]["accessConfigs"][0]["type"],
        "ONE_TO_ONE_NAT"
    );
    assert_eq!(body["labels"]["claw-free"], "bot");
    assert_eq!(body["labels"]["claw-free-bot"], "my-bot");
    let items: BTreeMap<String, String> =
        crate::testing::metadata_items(&body["metadata"]["items"]);
    assert_eq!(
        items.get("LLM_PROVIDER").map(String::as_str),
        Some("claude")
    );
    assert_eq!(items.get("BOT_NAME").map(String::as_str), Some("My Bot"));
    assert_eq!(
        items.get("enable-guest-attributes").map(String::as_str),
        Some("TRUE")
    );
    assert_eq!(
        items.get("enable-oslogin").map(String::as_str),
        Some("TRUE")
    );
    assert_eq!(
        items.len(),
        4,
        "no startup script and no secret in metadata"
    );
    let text = body.to_string();
    assert!(!text.contains("startup-script") && !text.contains("18789"));

    let owner = TelegramUserId::parse("424242").ok();
    let body = instance_body(&config, &instance, &bot, Provider::Claude, owner);
    let last = body["metadata"]["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last, json!({"key": "TELEGRAM_OWNER_ID", "value": "424242"}));
}

#[test]
fn reads_instances_as_google_returns_them() {
    let instance: Instance = serde_json::from_value(json!({
        "name": "my-bot-010203",
        "status": "RUNNING",
        "zone": "https://www.googleapis.com/compute/v1/projects/claw-demo/zones/us-central1-a",
        "machineType": "https://www.googleapis.com/compute/v1/projects/claw-demo/zones/us-central1-a/machineTypes/e2-micro",
        "networkInterfaces": [{"accessConfigs": [{"natIP": "34.1.2.3"}]}],
        "metadata": {"fingerprint": "abc=", "items": [{"key": "BOT_NAME", "value": "My Bot"}]},
    }))
    .unwrap();
    assert_eq!(instance.external_ip().as_deref(), Some("34.1.2.3"));
    assert_eq!(instance.machine_type_name(), "e2-micro");
    assert_eq!(instance.zone_name(), "us-central1-a");
    assert!(instance.is_running() && !instance.is_stopped());
}
