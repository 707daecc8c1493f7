//! The bot list and bot management through wrangler dev and the simulator: bots
//! across projects with one failing, the delete rules, token rotation confirmed by
//! the bot's secret version, and serial output. A user's other VMs are never touched.

mod deploy_support;

use claw_free_it::{wait_for, Client, Stack, StackOptions};
use deploy_support::*;
use serde_json::{json, Value};
use std::time::Duration;

const NEW_TOKEN: &str = "987654321:BBGfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9Zz";

fn bot_path(project: &str, zone: &str, vm: &str) -> String {
    format!("/api/bots/{project}/{zone}/{vm}")
}

/// The path of a bot deployed in `claw-demo`, in the zone its deploy ended in.
fn deployed_path(followed: &Followed, vm: &str) -> String {
    bot_path("claw-demo", followed.last["zone"].as_str().unwrap(), vm)
}

/// A bot deployed to `done` in `claw-demo`: its VM, how its deploy went, and its path.
fn deployed_bot(stack: &Stack, client: &Client, bot: &str) -> (String, Followed, String) {
    let (_, vm, followed) = deploy_to_done(stack, client, "claw-demo", bot);
    let path = deployed_path(&followed, &vm);
    (vm, followed, path)
}

/// A VM in the user's project that claw.free did not create (no claw.free label).
fn add_other_vm(stack: &Stack, project: &str, name: &str) {
    stack.admin(
        "vms",
        json!({"project": project, "zone": "us-central1-a", "instance": name, "metadata": {}}),
    );
}

fn names(list: &Value) -> Vec<String> {
    list["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["vmName"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_list_spans_projects_and_one_failing_project_does_not_hide_the_others() {
    let stack = Stack::start(StackOptions::default());
    stack.admin(
        "projects",
        json!({"projectId": "claw-second", "name": "Second", "ownerEmail": "ada@example.com"}),
    );
    let client = stack.client().signed_in();
    let (_, demo_vm, _) = deploy_to_done(&stack, &client, "claw-demo", "Demo Bot");
    let (second_id, second_vm) = started(&client, "claw-second", "Second Bot");
    follow_tokenless(&stack, &client, &second_id, &["configuring"]);
    add_other_vm(&stack, "claw-demo", "web-server");

    let list = client.get("/api/deploy/existing");
    assert_eq!(list.status, 200, "{}", list.text);
    let mut listed = names(&list.json);
    listed.sort();
    let mut expected = vec![demo_vm.clone(), second_vm.clone()];
    expected.sort();
    assert_eq!(listed, expected, "both bots, and not the other VM");
    assert_eq!(
        list.json["errors"],
        json!([]),
        "claw-fresh has Compute off: no bots, no error"
    );
    let demo = list.json["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vmName"] == demo_vm.as_str())
        .unwrap();
    assert_eq!(demo["health"], "green", "{demo}");
    assert_eq!(demo["botName"], "Demo Bot");
    assert_eq!(demo["machineType"], "e2-micro");
    assert_eq!(demo["status"], "RUNNING");
    assert_eq!(demo["setup"], "ready");
    assert!(demo["createdAt"].as_str().unwrap().contains('T'));
    assert!(demo["ip"].is_string());

    // One project's listing fails: it is reported, the other is still listed.
    stack.admin(
        "faults",
        json!({"endpoint": "compute.instances.aggregatedList", "status": 503, "times": 1}),
    );
    let list = client.get("/api/deploy/existing");
    assert_eq!(list.status, 200, "{}", list.text);
    let errors = list.json["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{}", list.json);
    let failed = errors[0]["projectId"].as_str().unwrap();
    assert!(!errors[0]["error"].as_str().unwrap().is_empty());
    let listed = names(&list.json);
    for (project, vm) in [("claw-demo", &demo_vm), ("claw-second", &second_vm)] {
        assert_eq!(
            listed.contains(vm),
            project != failed,
            "{project}: {}",
            list.json
        );
    }
}

#[test]
fn only_a_stopped_bot_is_deleted_and_never_another_vm() {
    let (stack, client) = Stack::signed_in();
    let (id, vm) = started(&client, "claw-demo", "Delete Bot");
    let followed = follow_tokenless(&stack, &client, &id, &["configuring"]);
    let zone = followed.last["zone"].as_str().unwrap().to_string();
    let path = bot_path("claw-demo", &zone, &vm);

    let running = client.delete(&path);
    assert_eq!(running.status, 409, "{}", running.text);
    assert!(running.error().contains("stopped"));

    stack.admin(
        "vms/stop",
        json!({"project": "claw-demo", "zone": zone, "instance": vm}),
    );
    wait_for("the VM to stop", Duration::from_secs(20), || {
        let bot = client.get(&path);
        matches!(bot.json["status"].as_str(), Some("STOPPED" | "TERMINATED")).then_some(())
    });
    let bot = client.get(&path);
    assert_eq!(bot.json["health"], "grey");
    let deleted = client.delete(&path);
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.json, json!({"ok": true}));
    assert_eq!(counter(&stack, "compute.instances.delete"), 1);
    wait_for("the VM to be gone", Duration::from_secs(20), || {
        (client.get(&path).status == 404).then_some(())
    });

    // Someone's other VM, even stopped, is not claw.free's to delete.
    add_other_vm(&stack, "claw-demo", "web-server");
    stack.admin(
        "vms/stop",
        json!({"project": "claw-demo", "zone": "us-central1-a", "instance": "web-server"}),
    );
    let other = client.delete(&bot_path("claw-demo", "us-central1-a", "web-server"));
    assert_eq!(other.status, 404, "{}", other.text);
    assert_eq!(
        client
            .get(&bot_path("claw-demo", "us-central1-a", "web-server"))
            .status,
        404
    );
    assert_eq!(
        client
            .get(&format!(
                "{}/logs",
                bot_path("claw-demo", "us-central1-a", "web-server")
            ))
            .status,
        404
    );
    // Nor anything in a project outside the session.
    assert_eq!(
        client
            .delete(&bot_path("someone-elses", "us-central1-a", "web-server"))
            .status,
        404
    );
    assert_eq!(counter(&stack, "compute.instances.delete"), 1);
    assert!(
        sim_vm(&stack, "claw-demo", "web-server")["status"].is_string(),
        "the other VM still exists"
    );
}

#[test]
fn a_rotated_token_is_confirmed_by_the_bots_secret_version() {
    let (stack, client) = Stack::signed_in();
    let (vm, followed, path) = deployed_bot(&stack, &client, "Rotate Bot");
    let first_version = followed.secret_version.unwrap();

    let rotated = client.post(
        &format!("{path}/secret"),
        json!({"telegramToken": NEW_TOKEN}),
    );
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert_eq!(rotated.json["ok"], true);
    let version = rotated.json["secretVersion"].as_u64().unwrap();
    assert!(version > first_version);
    let confirmed = wait_for(
        "the bot to apply the new token",
        Duration::from_secs(30),
        || {
            let bot = client.get(&path);
            (bot.json["secretVersion"].as_u64() == Some(version)).then_some(bot.json)
        },
    );
    assert_eq!(confirmed["vmName"], vm.as_str());

    // The new token is in the VM's secret file, and in no KV value and no metadata.
    let sim = sim_vm(&stack, "claw-demo", &vm);
    let root = std::path::PathBuf::from(sim["root"].as_str().unwrap());
    assert_eq!(
        files_named(&root, "telegram-token"),
        vec![NEW_TOKEN.to_string()]
    );
    let secret = NEW_TOKEN.split(':').nth(1).unwrap();
    assert!(!sim["metadata"].to_string().contains(secret));
    assert!(!stack.kv_contents().contains(secret));

    let refused = client.post(
        &format!("{path}/secret"),
        json!({"telegramToken": "12:nope"}),
    );
    assert_eq!(refused.status, 400);
    assert!(refused.error().contains("telegramToken"));

    let logs = client.get(&format!("{path}/logs"));
    assert_eq!(logs.status, 200, "{}", logs.text);
    let output = logs.json["output"].as_str().unwrap();
    assert!(!output.is_empty());
    assert!(logs.json["consoleUrl"].as_str().unwrap().contains(&vm));

    // And in no log: not the VM's serial console (the agent's log), not the Worker's,
    // not the simulator's.
    assert!(!output.contains(secret), "the agent logged the token");
    for log in ["wrangler.log", "sim.log"] {
        let text = std::fs::read_to_string(stack.state_dir.join(log)).unwrap_or_default();
        assert!(!text.contains(secret), "{log} holds the token");
    }
}

#[test]
fn a_key_written_on_the_vm_gets_no_token_until_the_owner_trusts_it() {
    let (stack, client) = Stack::signed_in();
    let (vm, _, path) = deployed_bot(&stack, &client, "Pinned Bot");
    // The first token pinned the key the real agent published.
    let before = sim_vm(&stack, "claw-demo", &vm);
    let published = before["guestAttributes"]["openclaw/recipient"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(before["metadata"]["openclaw-recipient"], published.as_str());

    // Any process on the VM can write guest attributes: one publishes its own key.
    let intruder =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO+yDhWyLYWHxnXKOAA+D9jUeZ7aXiBhSEnsoj3XLr/b";
    let url = format!(
        "{}/computeMetadata/v1/instance/guest-attributes/openclaw/recipient",
        before["metadataUrl"].as_str().unwrap()
    );
    let written = client
        .request(
            "PUT",
            &url,
            Some(intruder.as_bytes().to_vec()),
            &[
                ("metadata-flavor", "Google"),
                ("content-type", "text/plain"),
            ],
        )
        .unwrap();
    assert_eq!(written.status, 200, "{}", written.text);

    let refused = client.post(
        &format!("{path}/secret"),
        json!({"telegramToken": NEW_TOKEN}),
    );
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert!(refused.error().contains("different encryption key"));
    let after = sim_vm(&stack, "claw-demo", &vm);
    assert_eq!(
        after["metadata"]["openclaw-secret-version"], before["metadata"]["openclaw-secret-version"],
        "nothing was sent"
    );
    assert_eq!(client.get(&path).json["keyChanged"], true);

    // The owner, who knows why the key changed, trusts it from the page.
    let rekeyed = client.post(&format!("{path}/rekey"), json!({}));
    assert_eq!(rekeyed.status, 200, "{}", rekeyed.text);
    assert_eq!(
        sim_vm(&stack, "claw-demo", &vm)["metadata"]["openclaw-recipient"],
        intruder
    );
    assert_eq!(client.get(&path).json["keyChanged"], false);
}

#[test]
fn bot_actions_are_limited_per_session() {
    let stack = Stack::start(StackOptions::default().var("LIMIT_BOT_ACTIONS_PER_SESSION", 2));
    let client = stack.client().signed_in();
    let (id, vm) = started(&client, "claw-demo", "Busy Bot");
    let followed = follow_tokenless(&stack, &client, &id, &["configuring"]);
    let path = deployed_path(&followed, &vm);
    assert_eq!(client.get(&format!("{path}/logs")).status, 200);
    assert_eq!(client.delete(&path).status, 409);
    let limited = client.get(&format!("{path}/logs"));
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert!(limited.header("retry-after").is_some());
    assert_eq!(
        client.get(&path).status,
        200,
        "reading a bot is not an action"
    );
}
