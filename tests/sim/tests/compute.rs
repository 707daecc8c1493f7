//! Compute Engine: insert checks, operations over time, instance states, lists with
//! label filters, setMetadata fingerprints, guest attributes, serial output, stop and
//! delete, and injected zone/quota failures.

mod common;
use common::*;
use serde_json::{json, Value};

/// A VM's external IP, as its first network interface's access config shows it.
fn nat_ip(vm: &Value) -> Option<&Value> {
    vm["networkInterfaces"][0]["accessConfigs"][0].get("natIP")
}

#[test]
fn insert_moves_through_operation_and_instance_states() {
    let sim = sim_with(|o| {
        // The insert operation finishes (300 ms) before the VM runs (800 ms), as on Google.
        o.config.operation_step_ms = 150;
        o.config.boot_step_ms = 400;
    });
    let token = sim.token();
    let op = sim.post(&format!("{ZONE}/instances"), &token, vm_body("bot-one"));
    assert_eq!(op.status, 200, "{}", op.body);
    let op = op.json();
    assert_eq!(op["kind"], "compute#operation");
    assert_eq!(op["status"], "PENDING");
    assert_eq!(op["operationType"], "insert");
    assert_eq!(op["targetLink"], "https://www.googleapis.com/compute/v1/projects/claw-demo/zones/us-central1-a/instances/bot-one");
    let op_path = format!("{ZONE}/operations/{}", op["name"].as_str().unwrap());
    assert!(op["selfLink"]
        .as_str()
        .unwrap()
        .ends_with(&op_path[1..].replace("compute/v1/", "")));

    let vm = sim.instance_get(&token, "bot-one", "").json();
    assert_eq!(vm["status"], "PROVISIONING");
    assert!(nat_ip(&vm).is_none(), "no IP before it runs");

    let mut seen = Vec::new();
    let done = sim.wait_for(10, || {
        let op = sim.get(&op_path, &token).json();
        let status = op["status"].as_str().unwrap().to_string();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        (status == "DONE").then_some(op)
    });
    assert_eq!(seen.first().map(String::as_str), Some("PENDING"));
    assert!(seen.contains(&"RUNNING".to_string()), "{seen:?}");
    assert_eq!(done["progress"], 100);
    assert!(done.get("error").is_none());

    let mut states = Vec::new();
    let vm = sim.wait_for(10, || {
        let vm = sim.instance_get(&token, "bot-one", "").json();
        let status = vm["status"].as_str().unwrap().to_string();
        if states.last() != Some(&status) {
            states.push(status.clone());
        }
        (status == "RUNNING").then_some(vm)
    });
    assert!(states.contains(&"STAGING".to_string()), "{states:?}");
    assert_eq!(vm["kind"], "compute#instance");
    assert!(vm["machineType"]
        .as_str()
        .unwrap()
        .ends_with("/zones/us-central1-a/machineTypes/e2-micro"));
    assert!(nat_ip(&vm)
        .and_then(Value::as_str)
        .unwrap()
        .starts_with("34."));
    assert_eq!(vm["labels"]["claw-free"], "bot");
    assert!(vm["creationTimestamp"]
        .as_str()
        .unwrap()
        .ends_with("-08:00"));
    assert_eq!(vm["metadata"]["items"][1]["value"], "My bot");
}

/// An insert Google refuses as `INVALID_ARGUMENT`, and the message it gives.
fn insert_error(sim: &TestSim, token: &str, body: Value) -> String {
    let r = sim.post(&format!("{ZONE}/instances"), token, body);
    assert_eq!(r.status, 400, "{}", r.body);
    let error = r.json();
    assert_eq!(error["error"]["status"], "INVALID_ARGUMENT");
    error["error"]["message"].as_str().unwrap().to_string()
}

#[test]
fn insert_checks_the_body_like_google() {
    let (sim, token) = signed_in();
    let mut bad_name = vm_body("Bad_Name");
    assert!(insert_error(&sim, &token, bad_name.take()).contains("resource.name"));

    let mut body = vm_body("ok-name");
    body["machineType"] = json!("e2-micro");
    assert!(insert_error(&sim, &token, body).contains("machineType"));
    let mut body = vm_body("ok-name");
    body["machineType"] = json!("zones/us-east1-b/machineTypes/e2-micro");
    insert_error(&sim, &token, body);
    let mut body = vm_body("ok-name");
    body["machineType"] = json!("zones/us-central1-a/machineTypes/e2-gigantic");
    insert_error(&sim, &token, body);

    let mut body = vm_body("ok-name");
    body["disks"][0]["initializeParams"]
        .as_object_mut()
        .unwrap()
        .remove("sourceImage");
    assert!(insert_error(&sim, &token, body).contains("sourceImage"));
    let mut body = vm_body("ok-name");
    body["disks"][0]["initializeParams"]["sourceImage"] = json!("debian-12");
    insert_error(&sim, &token, body);

    let mut body = vm_body("ok-name");
    body["metadata"]["items"] = json!([{ "key": "a b", "value": "x" }]);
    insert_error(&sim, &token, body);
    let mut body = vm_body("ok-name");
    body["labels"] = json!({ "claw-free": "Not Valid" });
    insert_error(&sim, &token, body);
    // A network or subnetwork the project does not have, and references that are not one.
    for nic in [
        json!({ "network": "global/networks/other" }),
        json!({ "subnetwork": "regions/us-central1/subnetworks/other" }),
    ] {
        let mut body = vm_body("ok-name");
        body["networkInterfaces"] = json!([nic]);
        assert_eq!(
            sim.post(&format!("{ZONE}/instances"), &token, body).status,
            404
        );
    }
    for (nic, why) in [
        (
            json!({ "network": "networks/default" }),
            "'resource.networkInterfaces[0].network': 'networks/default'. Must be a URL to a network",
        ),
        (
            json!({ "subnetwork": "regions/europe-west1/subnetworks/default" }),
            "Subnetwork region 'europe-west1' does not match the instance region 'us-central1'.",
        ),
        (
            json!({ "subnetwork": "subnetworks/default" }),
            "'resource.networkInterfaces[0].subnetwork': 'subnetworks/default'. Must be a URL to a subnetwork",
        ),
    ] {
        let mut body = vm_body("ok-name");
        body["networkInterfaces"] = json!([nic]);
        let message = insert_error(&sim, &token, body);
        assert!(message.contains(why), "{message}");
    }
    let mut body = vm_body("ok-name");
    body["favouriteColour"] = json!("blue");
    assert!(insert_error(&sim, &token, body).contains("Unknown name"));
    let malformed = sim
        .request("POST", &format!("{ZONE}/instances"))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", "application/json")
        .send_string("{not json");
    assert_eq!(
        malformed.unwrap_err().into_response().unwrap().status(),
        400
    );

    assert_eq!(
        sim.post(&format!("{ZONE}/instances"), &token, vm_body("ok-name"))
            .status,
        200
    );
    let again = sim.post(&format!("{ZONE}/instances"), &token, vm_body("ok-name"));
    assert_eq!(again.status, 409);
    assert_eq!(
        again.json()["error"]["errors"][0]["reason"],
        "alreadyExists"
    );
    assert_eq!(sim.instance_get(&token, "missing", "").status, 404);
}

#[test]
fn zone_exhausted_and_quota_are_reported_in_the_operation() {
    let (sim, token) = signed_in();
    for code in ["ZONE_RESOURCE_POOL_EXHAUSTED", "QUOTA_EXCEEDED"] {
        sim.admin("faults", json!({ "endpoint": "compute.instances.insert", "operationError": { "code": code }, "times": 1 }));
        let name = format!("vm-{}", code.to_lowercase().replace('_', "-"));
        let op = sim
            .post(&format!("{ZONE}/instances"), &token, vm_body(&name))
            .json();
        let done = wait_zone_op(&sim, &op, &token);
        assert_eq!(done["error"]["errors"][0]["code"], code);
        assert!(done["httpErrorStatusCode"].as_u64().unwrap() >= 400);
        assert_eq!(sim.instance_get(&token, &name, "").status, 404);
    }
    // The fault was used up: the next insert works.
    let op = sim
        .post(&format!("{ZONE}/instances"), &token, vm_body("fine-now"))
        .json();
    let done = wait_zone_op(&sim, &op, &token);
    assert!(done.get("error").is_none());
}

#[test]
fn aggregated_list_filters_by_label_and_warns_for_empty_zones() {
    let (sim, token) = signed_in();
    sim.post(&format!("{ZONE}/instances"), &token, vm_body("bot-a"));
    let mut other = vm_body("web-server");
    other["labels"] = json!({ "team": "web" });
    sim.post(&format!("{ZONE}/instances"), &token, other);
    let filter = claw_free_sim::http::percent_encode(&claw_free_protocol::labels::managed_filter());
    let list = sim
        .get(
            &format!("/compute/v1/projects/claw-demo/aggregated/instances?filter={filter}"),
            &token,
        )
        .json();
    assert_eq!(list["kind"], "compute#instanceAggregatedList");
    let zone = &list["items"]["zones/us-central1-a"];
    let names = fields(&zone["instances"], "name");
    assert_eq!(names, ["bot-a"]);
    assert_eq!(
        list["items"]["zones/us-east1-b"]["warning"]["code"],
        "NO_RESULTS_ON_PAGE"
    );
    let all = sim.instance_list(&token, "claw-demo", "").json();
    assert_eq!(
        all["items"]["zones/us-central1-a"]["instances"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let bad = sim.instance_list(&token, "claw-demo", "?filter=labels.a%3D1%20OR%20b%3D2");
    assert_eq!(bad.status, 400);
}

#[test]
fn set_metadata_checks_the_fingerprint() {
    let (sim, token) = signed_in();
    let vm = sim.insert_vm(&token, "meta-vm");
    let fingerprint = vm["metadata"]["fingerprint"].as_str().unwrap().to_string();
    let mut items = vm["metadata"]["items"].as_array().unwrap().clone();
    items.push(json!({ "key": "openclaw-secret-version", "value": "1" }));
    let path = format!("{ZONE}/instances/meta-vm/setMetadata");
    let stale = sim.post(
        &path,
        &token,
        json!({ "fingerprint": "c3RhbGU=", "items": items }),
    );
    assert_eq!(stale.status, 412);
    assert_eq!(
        stale.json()["error"]["errors"][0]["reason"],
        "conditionNotMet"
    );
    let op = sim.post(
        &path,
        &token,
        json!({ "fingerprint": fingerprint, "items": items }),
    );
    assert_eq!(op.status, 200, "{}", op.body);
    assert_eq!(op.json()["operationType"], "setMetadata");
    let after = sim.instance_get(&token, "meta-vm", "").json();
    assert_ne!(after["metadata"]["fingerprint"], fingerprint.as_str());
    assert_eq!(after["metadata"]["items"].as_array().unwrap().len(), 5);
    // The old fingerprint is now stale too.
    assert_eq!(
        sim.post(
            &path,
            &token,
            json!({ "fingerprint": fingerprint, "items": [] })
        )
        .status,
        412
    );
}

#[test]
fn guest_attributes_written_on_the_vm_are_read_through_the_api() {
    let sim = sim_with(|o| o.config.agent_boot_delay_ms = 60_000);
    let token = sim.token();
    sim.insert_vm(&token, "guest-vm");
    let path = format!("{ZONE}/instances/guest-vm/getGuestAttributes?queryPath=openclaw/");
    let none = sim.get(&path, &token);
    assert_eq!(none.status, 404);
    let put = sim
        .request("PUT", "/_vm/claw-demo/us-central1-a/guest-vm/computeMetadata/v1/instance/guest-attributes/openclaw/setup")
        .set("Metadata-Flavor", "Google")
        .send_string("waiting-secret")
        .unwrap();
    assert_eq!(put.status(), 200);
    let found = sim.get(&path, &token).json();
    assert_eq!(found["kind"], "compute#guestAttributes");
    assert_eq!(found["queryPath"], "openclaw/");
    assert_eq!(
        found["queryValue"]["items"][0],
        json!({ "namespace": "openclaw", "key": "setup", "value": "waiting-secret" })
    );
    let one = sim
        .instance_get(
            &token,
            "guest-vm",
            "/getGuestAttributes?variableKey=openclaw/setup",
        )
        .json();
    assert_eq!(one["variableValue"], "waiting-secret");
    let read_back = sim.metadata(
        "claw-demo/us-central1-a/guest-vm",
        "instance/guest-attributes/openclaw/setup",
    );
    assert_eq!(read_back.body, "waiting-secret");
    let too_long = sim
        .request("PUT", "/_vm/claw-demo/us-central1-a/guest-vm/computeMetadata/v1/instance/guest-attributes/openclaw/setup")
        .set("Metadata-Flavor", "Google")
        .send_string(&"x".repeat(300));
    assert_eq!(too_long.unwrap_err().into_response().unwrap().status(), 400);
}

#[test]
fn serial_output_has_the_boot_log_and_pages_with_start() {
    let (sim, token) = signed_in();
    sim.insert_vm(&token, "serial-vm");
    let out = sim.wait_for(5, || {
        let out = sim
            .instance_get(&token, "serial-vm", "/serialPort?port=1")
            .json();
        out["contents"]
            .as_str()
            .unwrap()
            .contains("clawfree-agent")
            .then_some(out)
    });
    assert_eq!(out["kind"], "compute#serialPortOutput");
    assert!(out["contents"]
        .as_str()
        .unwrap()
        .contains("Welcome to NixOS"));
    assert_eq!(out["start"], "0");
    let next = out["next"].as_str().unwrap();
    let tail = sim
        .get(
            &format!("{ZONE}/instances/serial-vm/serialPort?port=1&start={next}"),
            &token,
        )
        .json();
    assert_eq!(tail["start"], next);
    assert!(tail["contents"].as_str().unwrap().len() < out["contents"].as_str().unwrap().len());
    assert_eq!(
        sim.instance_get(&token, "serial-vm", "/serialPort?port=9")
            .status,
        400
    );
}

#[test]
fn stop_then_delete() {
    let (sim, token) = signed_in();
    sim.insert_vm(&token, "doomed");
    let op = sim
        .post(&format!("{ZONE}/instances/doomed/stop"), &token, json!({}))
        .json();
    assert_eq!(
        sim.instance_get(&token, "doomed", "").json()["status"],
        "STOPPING"
    );
    wait_zone_op(&sim, &op, &token);
    let stopped = sim.instance_get(&token, "doomed", "").json();
    assert_eq!(stopped["status"], "TERMINATED");
    assert!(nat_ip(&stopped).is_none(), "the ephemeral IP is released");
    let op = sim
        .delete(&format!("{ZONE}/instances/doomed"), &token)
        .json();
    assert_eq!(op["operationType"], "delete");
    wait_zone_op(&sim, &op, &token);
    assert_eq!(sim.instance_get(&token, "doomed", "").status, 404);
    assert_eq!(
        sim.delete(&format!("{ZONE}/instances/doomed"), &token)
            .status,
        404
    );
}

#[test]
fn a_retried_insert_with_the_same_request_id_gets_the_same_operation() {
    let (sim, token) = signed_in();
    let path = format!("{ZONE}/instances?requestId=0b8f6d3e-2c1a-4e7b-9a55-6f1d2e3c4b5a");
    let first = sim.post(&path, &token, vm_body("retried"));
    let second = sim.post(&path, &token, vm_body("retried"));
    assert_eq!(second.status, 200, "not 409: {}", second.body);
    assert_eq!(first.json()["name"], second.json()["name"]);
    assert_eq!(
        sim.post(
            &format!("{ZONE}/instances?requestId=not-a-uuid"),
            &token,
            vm_body("other")
        )
        .status,
        400
    );
}

#[test]
fn standard_parameters_are_accepted_and_unknown_ones_refused() {
    let (sim, token) = signed_in();
    let ok = sim.anonymous("GET", &format!("/compute/v1/projects/claw-demo/aggregated/instances?prettyPrint=false&access_token={token}"));
    assert_eq!(ok.status, 200, "{}", ok.body);
    let bad = sim.instance_get(&token, "x", "?colour=blue");
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("colour"));
}

#[test]
fn aggregated_list_pages_with_max_results() {
    let (sim, token) = signed_in();
    for name in ["page-a", "page-b", "page-c"] {
        assert_eq!(
            sim.post(&format!("{ZONE}/instances"), &token, vm_body(name))
                .status,
            200
        );
    }
    let list = "/compute/v1/projects/claw-demo/aggregated/instances?maxResults=2";
    let first = sim.get(list, &token).json();
    assert_eq!(
        first["items"]["zones/us-central1-a"]["instances"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let next = first["nextPageToken"].as_str().unwrap();
    let second = sim.get(&format!("{list}&pageToken={next}"), &token).json();
    assert_eq!(
        second["items"]["zones/us-central1-a"]["instances"][0]["name"],
        "page-c"
    );
    assert!(second.get("nextPageToken").is_none());
}
