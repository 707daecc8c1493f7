//! Resource Manager and Service Usage: search, create, operations, enabling Compute.

mod common;
use common::*;
use serde_json::json;

#[test]
fn search_lists_only_the_callers_active_projects() {
    let sim = sim();
    sim.admin("projects", json!({ "projectId": "old-project", "name": "Old", "ownerEmail": "ada@example.com", "state": "DELETE_REQUESTED" }));
    sim.add_project("someone-else", "bob@example.com");
    let token = sim.token();
    let found = sim.get("/v3/projects:search", &token).json();
    let ids = fields(&found["projects"], "projectId");
    assert_eq!(ids, ["claw-demo", "claw-fresh"]);
    let demo = &found["projects"][0];
    assert_eq!(demo["state"], "ACTIVE");
    assert!(demo["name"].as_str().unwrap().starts_with("projects/"));
    assert_eq!(demo["displayName"], "Claw demo");
    assert!(demo["createTime"].as_str().unwrap().ends_with('Z'));

    let bad = sim.get("/v3/projects:search?query=color:blue", &token);
    assert_eq!(bad.status, 400);
    let other = sim.get("/v3/projects/someone-else", &token);
    assert_eq!(other.status, 403);
    assert_eq!(other.json()["error"]["status"], "PERMISSION_DENIED");
}

#[test]
fn create_returns_an_operation_and_a_taken_id_is_409() {
    let (sim, token) = signed_in();
    let op = sim.post(
        "/v3/projects",
        &token,
        json!({ "projectId": "my-new-bot", "displayName": "My new bot" }),
    );
    assert_eq!(op.status, 200, "{}", op.body);
    let op = op.json();
    assert!(
        op.get("done").is_none(),
        "a fresh operation is not done: {op}"
    );
    let name = op["name"].as_str().unwrap();
    assert!(name.starts_with("operations/cp."));
    let done = wait_op(&sim, &format!("/v3/{name}"), &token);
    assert_eq!(done["response"]["projectId"], "my-new-bot");
    assert_eq!(done["response"]["state"], "ACTIVE");
    let ids = sim.get("/v3/projects:search", &token).body;
    assert!(ids.contains("my-new-bot"));

    // A taken id, an invalid one, an unknown field: each refused in Google's terms.
    let refusals = [
        (
            json!({ "projectId": "claw-demo", "displayName": "Again" }),
            409,
            Some("ALREADY_EXISTS"),
        ),
        (
            json!({ "projectId": "Bad_ID", "displayName": "Bad one" }),
            400,
            Some("INVALID_ARGUMENT"),
        ),
        (
            json!({ "projectId": "fine-id-1", "colour": "red" }),
            400,
            None,
        ),
    ];
    for (body, code, status) in refusals {
        let refused = sim.post("/v3/projects", &token, body.clone());
        assert_eq!(refused.status, code, "{body}");
        if let Some(status) = status {
            assert_eq!(refused.json()["error"]["status"], status, "{body}");
        }
    }
}

#[test]
fn compute_is_service_disabled_until_enabled() {
    let (sim, token) = signed_in();
    let list = "/compute/v1/projects/claw-fresh/aggregated/instances";
    let refused = sim.get(list, &token);
    assert_eq!(refused.status, 403);
    let error = claw_free_protocol::google::ApiError::parse(&refused.body).unwrap();
    assert_eq!(error.reason(), Some("SERVICE_DISABLED"));
    assert!(error
        .info_metadata("activationUrl")
        .unwrap()
        .contains("compute.googleapis.com"));

    let state = sim
        .get(
            "/v1/projects/claw-fresh/services/compute.googleapis.com",
            &token,
        )
        .json();
    assert_eq!(state["state"], "DISABLED");
    let op = sim.post(
        "/v1/projects/claw-fresh/services/compute.googleapis.com:enable",
        &token,
        json!({}),
    );
    assert_eq!(op.status, 200, "{}", op.body);
    let name = op.text("name");
    assert!(op.json().get("done").is_none());
    let done = wait_op(&sim, &format!("/v1/{name}"), &token);
    assert_eq!(done["response"]["service"]["state"], "ENABLED");
    assert_eq!(sim.get(list, &token).status, 200);
    assert_eq!(
        sim.get(
            "/v1/projects/claw-fresh/services/compute.googleapis.com",
            &token
        )
        .json()["state"],
        "ENABLED"
    );
}

#[test]
fn enabling_compute_without_billing_fails_like_google() {
    let sim = sim();
    sim.admin("projects", json!({ "projectId": "no-billing", "ownerEmail": "ada@example.com", "computeEnabled": false, "billingEnabled": false }));
    let token = sim.token();
    let r = sim.post(
        "/v1/projects/no-billing/services/compute.googleapis.com:enable",
        &token,
        json!({}),
    );
    assert_eq!(r.status, 400);
    let error = claw_free_protocol::google::ApiError::parse(&r.body).unwrap();
    assert_eq!(error.error.status.as_deref(), Some("FAILED_PRECONDITION"));
    assert_eq!(error.reason(), Some("UREQ_PROJECT_BILLING_NOT_FOUND"));
}

#[test]
fn another_users_project_is_forbidden() {
    let sim = sim();
    sim.add_project("bobs-project", "bob@example.com");
    let token = sim.token();
    let r = sim.instance_list(&token, "bobs-project", "");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["status"], "PERMISSION_DENIED");
    let r = sim.instance_list(&token, "nobody-has-it", "");
    assert_eq!(r.status, 404);
}

#[test]
fn each_method_takes_the_scopes_googles_reference_lists() {
    let sim = sim();
    let token = |scopes: &str| {
        sim.sign_in_with(&format!("openid email {scopes}"))["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let projects_only = token("https://www.googleapis.com/auth/cloudplatformprojects");
    // projects.search takes cloud-platform or cloud-platform.read-only, nothing narrower.
    let refused = sim.get("/v3/projects:search", &projects_only);
    assert_eq!(refused.status, 403, "{:?}", refused.json());
    assert_eq!(refused.json()["error"]["status"], "PERMISSION_DENIED");
    let read_only = token("https://www.googleapis.com/auth/cloud-platform.read-only");
    assert_eq!(sim.get("/v3/projects:search", &read_only).status, 200);
    // Reading is not creating.
    let create = sim.post(
        "/v3/projects",
        &read_only,
        json!({"projectId": "ada-scoped-1", "displayName": "Scoped"}),
    );
    assert_eq!(create.status, 403);
    assert_eq!(
        sim.post(
            "/v3/projects",
            &projects_only,
            json!({"projectId": "ada-scoped-2", "displayName": "Scoped"}),
        )
        .status,
        200
    );
}
