use super::model::{LinkRecord, LinkState, RepoRef, Step};
use crate::github::link_start::tests::with_github_mode;
use crate::github::plan;
use crate::http::Method;
use crate::store::{self, Key};
use crate::testing::fake_google::FakeVm;
use crate::testing::fake_link::{self, google_error, Link, PROJECT_NUMBER, REPO, REPO_ID};
use crate::testing::{run, TestApp, VM_RECIPIENT};
use crate::types::{ProjectId, VmName, Zone};
use serde_json::{json, Value};

const BOT: &str = "claw-demo/us-central1-a/my-bot-010203";
const STATUS: &str = "/api/bots/claw-demo/us-central1-a/my-bot-010203/github/link";

fn recipient() -> String {
    let mut parts = VM_RECIPIENT.split_whitespace();
    format!("{} {}", parts.next().unwrap(), parts.next().unwrap())
}

/// GitHub mode, a running bot that publishes its key, and a link begun for it.
fn linking() -> (TestApp, Link) {
    let h = with_github_mode();
    let link = fake_link::install(&h.google);
    let mut vm = FakeVm::bot("RUNNING");
    vm.guest.insert("recipient".into(), recipient());
    h.google.borrow_mut().vms.insert(BOT.into(), vm);
    let record = LinkRecord::start(
        "sub-alice".into(),
        (
            ProjectId::parse("claw-demo").unwrap(),
            Zone::parse("us-central1-a").unwrap(),
            VmName::parse("my-bot-010203").unwrap(),
        ),
        77,
        RepoRef {
            id: REPO_ID,
            full_name: REPO.into(),
            url: format!("https://github.com/{REPO}"),
        },
        1,
    );
    save(&h, &record);
    (h, link)
}

/// Keeps `record` as the bot's link.
fn save(h: &TestApp, record: &LinkRecord) {
    let key = Key::GitHubLink(BOT.into());
    run(store::save(&h.p, &key, record, store::DEPLOY_TTL)).unwrap();
}

/// The fakes answer the next `method` call whose URL holds `path` with `status` and
/// `body`, once.
fn fail_next(link: &Link, path: &str, method: Method, status: u16, body: Value) {
    link.borrow_mut()
        .faults
        .push((path.into(), method, status, body));
}

/// GitHub answers the App's protection of `main` with a 403 saying `message`.
fn protection_refused(link: &Link, message: &str) {
    let body = json!({ "message": message });
    fail_next(link, "/protection", Method::Put, 403, body);
}

/// The sentence a failed link shows.
fn error(view: &Value) -> &str {
    view["error"].as_str().unwrap()
}

/// Polls until the link is no longer `linking` (or `polls` polls); the last answer.
fn poll_until_settled(h: &TestApp, polls: usize) -> Value {
    let mut last = Value::Null;
    for _ in 0..polls {
        let (status, body) = h.call(Method::Get, STATUS, None);
        assert_eq!(status, 200, "{body}");
        last = body;
        if last["state"] != "linking" {
            break;
        }
    }
    last
}

fn stored(h: &TestApp) -> LinkRecord {
    run(store::load(&h.p, &Key::GitHubLink(BOT.into())))
        .unwrap()
        .expect("the link record")
}

#[test]
fn every_step_runs_on_the_fakes_and_the_bot_ends_linked() {
    let (h, link) = linking();
    let last = poll_until_settled(&h, 40);
    assert_eq!(last["state"], "linked", "{last}");
    assert_eq!(
        last["repository"],
        json!({"fullName": REPO, "url": format!("https://github.com/{REPO}")})
    );
    assert!(last.get("retryAfterMs").is_none());

    let w = link.borrow();
    // Every installation token was narrowed to the one repository and linking's permissions.
    assert!(!w.token_requests.is_empty());
    for asked in &w.token_requests {
        assert_eq!(asked["repository_ids"], json!([REPO_ID]));
        let wanted: serde_json::Map<String, Value> = plan::LINK_PERMISSIONS
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        assert_eq!(asked["permissions"], Value::Object(wanted));
    }
    assert_eq!(w.pools, ["claw-free".to_string()].into());
    let provider = &w.providers["github"];
    assert_eq!(
        provider["attributeCondition"],
        format!("assertion.repository_id == '{REPO_ID}' && assertion.ref == 'refs/heads/main'")
    );
    assert_eq!(
        w.accounts,
        ["claw-free-ci".to_string(), "claw-free-vm".to_string()].into()
    );
    let bucket = &w.buckets["claw-cache-claw-demo"];
    assert_eq!(bucket["location"], "us-central1");
    assert_eq!(
        bucket["iamConfiguration"]["publicAccessPrevention"],
        "enforced"
    );
    assert_eq!(
        bucket["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"],
        true
    );
    // Every grant of the plan, on its resource.
    let ci = "serviceAccount:claw-free-ci@claw-demo.iam.gserviceaccount.com";
    let vm_member = "serviceAccount:claw-free-vm@claw-demo.iam.gserviceaccount.com";
    let members = |resource: &str, role: &str| -> Vec<String> {
        w.policies[resource]["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["role"] == role)
            .flat_map(|b| b["members"].as_array().unwrap().clone())
            .map(|m| m.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        members("claw-cache-claw-demo", "roles/storage.objectViewer"),
        vec![vm_member.to_string()]
    );
    assert_eq!(
        members("claw-cache-claw-demo", "roles/storage.objectAdmin"),
        vec![ci.to_string()]
    );
    assert_eq!(
        members(
            "claw-free-vm@claw-demo.iam.gserviceaccount.com",
            "roles/iam.serviceAccountUser"
        ),
        vec![ci.to_string()]
    );
    assert_eq!(
        members("claw-free-ci@claw-demo.iam.gserviceaccount.com", "roles/iam.workloadIdentityUser"),
        vec![format!("principalSet://iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/claw-free/attribute.repository_id/{REPO_ID}")]
    );
    let vm = h.vm(BOT);
    assert_eq!(
        vm.iam_policy["bindings"],
        json!([{"role": "roles/compute.instanceAdmin.v1", "members": [ci]}])
    );
    // The VM runs again, as the read-only account.
    assert_eq!(vm.status, "RUNNING");
    assert_eq!(
        vm.service_account,
        Some((
            "claw-free-vm@claw-demo.iam.gserviceaccount.com".to_string(),
            vec!["https://www.googleapis.com/auth/devstorage.read_only".to_string()]
        ))
    );
    // The repository's side.
    assert!(w.secrets[plan::SIGNING_KEY_SECRET]["encrypted_value"].is_string());
    assert_eq!(w.variables.len(), 6);
    let config = plan::RepoConfig::parse(&w.files[plan::CONFIG_FILE]).unwrap();
    assert_eq!(config.bot.instance_id, "8412345678901234567");
    assert_eq!(config.repository, REPO);
    assert!(w.files[plan::RECIPIENTS_FILE].ends_with(&format!("{}\n", recipient())));
    assert_eq!(
        w.protection.as_ref().unwrap()["required_pull_request_reviews"]
            ["required_approving_review_count"],
        0
    );
    // The bot: its key pinned, and marked linked.
    let meta: std::collections::BTreeMap<_, _> = vm.metadata.iter().cloned().collect();
    assert_eq!(meta["openclaw-recipient"], recipient());
    assert_eq!(
        serde_json::from_str::<Value>(&meta[plan::METADATA_KEY]).unwrap(),
        json!({"repository": REPO, "repositoryId": REPO_ID, "installationId": 77})
    );
    // The record kept the public key only, nothing secret.
    let record = stored(&h);
    assert_eq!(
        record.cache_public_key.as_deref(),
        Some(config.cache_public_key.as_str())
    );
    let kv = h.p.kv_dump();
    assert!(!kv.contains("ghs_") && !kv.contains("ya29."), "{kv}");

    drop(w);
    // Linked: the bot list shows the repository, and the token route sends owners there.
    let (status, bot) = h.call(
        Method::Get,
        "/api/bots/claw-demo/us-central1-a/my-bot-010203",
        None,
    );
    assert_eq!(status, 200, "{bot}");
    assert_eq!(bot["github"]["repository"], REPO);
    let (status, body) = h.call(
        Method::Post,
        "/api/bots/claw-demo/us-central1-a/my-bot-010203/secret",
        Some(json!({"telegramToken": "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"})),
    );
    assert_eq!(status, 409, "{body}");
    assert!(error(&body).contains("secrets/telegram-token.age"));
    assert!(!h
        .vm(BOT)
        .metadata
        .iter()
        .any(|(k, _)| k.starts_with("openclaw-secret-")));
}

#[test]
fn a_step_run_again_finds_what_exists_and_goes_on() {
    let (h, link) = linking();
    // Everything already there, as after a crash midway through an earlier try.
    {
        let mut w = link.borrow_mut();
        w.pools.insert("claw-free".into());
        w.providers.insert("github".into(), json!({}));
        w.accounts
            .extend(["claw-free-ci".to_string(), "claw-free-vm".to_string()]);
        w.buckets.insert("claw-cache-claw-demo".into(), json!({}));
        w.variables.insert("GCP_PROJECT".into(), "stale".into());
        w.files.insert(plan::CONFIG_FILE.into(), "{}".into());
    }
    let last = poll_until_settled(&h, 40);
    assert_eq!(last["state"], "linked", "{last}");
    let w = link.borrow();
    assert_eq!(
        w.variables["GCP_PROJECT"], "claw-demo",
        "updated, not refused"
    );
    assert!(plan::RepoConfig::parse(&w.files[plan::CONFIG_FILE]).is_ok());
}

#[test]
fn an_api_that_is_off_stops_the_link_with_a_way_to_turn_it_on_and_resume_goes_on_from_there() {
    let (h, link) = linking();
    fail_next(
        &link,
        "workloadIdentityPools",
        Method::Post,
        403,
        google_error(
            403,
            "accessNotConfigured",
            "IAM API has not been used in project 123456789012",
        ),
    );
    let failed = poll_until_settled(&h, 20);
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["step"], "pool");
    assert!(error(&failed).contains("not turned on"));
    assert_eq!(failed["errorAction"]["label"], "Turn the API on");
    let steps = failed["steps"].as_array().unwrap();
    assert_eq!(
        steps[3],
        json!({"id": "pool", "label": "Create the Workload Identity pool", "state": "failed"})
    );
    assert_eq!(steps[2]["state"], "done");
    assert_eq!(steps[4]["state"], "pending");
    // A poll of a failed link changes nothing and calls no one.
    let calls = h.google_calls();
    let (_, again) = h.call(Method::Get, STATUS, None);
    assert_eq!(again["state"], "failed");
    assert_eq!(h.google_calls(), calls);

    let (status, resumed) = h.call(Method::Post, STATUS, Some(json!({})));
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["state"], "linking");
    assert!(resumed.get("error").is_none());
    let last = poll_until_settled(&h, 40);
    assert_eq!(last["state"], "linked", "{last}");
}

#[test]
fn a_transient_failure_keeps_the_step_for_the_next_poll() {
    let (h, link) = linking();
    for _ in 0..3 {
        poll_until_settled(&h, 1);
    }
    fail_next(
        &link,
        "storage/v1/b",
        Method::Post,
        503,
        google_error(503, "backendError", "Backend Error"),
    );
    let mut seen_retry = false;
    for _ in 0..10 {
        let (_, body) = h.call(Method::Get, STATUS, None);
        if body["retryAfterMs"] == 5000 {
            seen_retry = true;
            assert_eq!(body["step"], "bucket");
            assert_eq!(body["state"], "linking");
            break;
        }
    }
    assert!(seen_retry, "the 503 was retried later");
    assert_eq!(poll_until_settled(&h, 40)["state"], "linked");
}

#[test]
fn each_refusal_ends_failed_with_a_sentence_the_owner_can_act_on() {
    // A sign-in without the scopes linking needs.
    let (h, link) = linking();
    fail_next(
        &link,
        "serviceAccounts",
        Method::Post,
        403,
        google_error(
            403,
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "Request had insufficient authentication scopes.",
        ),
    );
    let failed = poll_until_settled(&h, 20);
    assert_eq!(
        (failed["state"].as_str(), failed["step"].as_str()),
        (Some("failed"), Some("accounts"))
    );
    assert_eq!(
        failed["errorAction"]["url"],
        "/api/auth/google?access=github"
    );

    // The bucket's name is another project's.
    let (h, link) = linking();
    link.borrow_mut().foreign_bucket = Some("claw-cache-claw-demo".into());
    let failed = poll_until_settled(&h, 20);
    assert_eq!(failed["step"], "bucket");
    assert!(error(&failed).contains("belongs to another Google Cloud project"));

    // GitHub refuses branch protection to the App (a permission it was not given).
    let (h, link) = linking();
    protection_refused(&link, "Resource not accessible by integration");
    let failed = poll_until_settled(&h, 40);
    assert_eq!(failed["step"], "protection", "{failed}");
    assert!(error(&failed).contains("Resource not accessible by integration"));
    assert_eq!(
        failed["errorAction"]["url"],
        "http://127.0.0.1:9/github/settings/installations/77"
    );

    // The repository was deleted and made again under the same name.
    let (h, link) = linking();
    let _ = link;
    let mut record = stored(&h);
    record.repository.id = 41;
    save(&h, &record);
    let failed = poll_until_settled(&h, 5);
    assert_eq!(failed["step"], "repository");
    assert!(error(&failed).contains("not the repository"));
}

#[test]
fn a_free_accounts_private_repository_is_linked_without_protection_and_the_page_says_so() {
    let (h, link) = linking();
    protection_refused(
        &link,
        "Upgrade to GitHub Pro or make this repository public to enable this feature.",
    );
    let linked = poll_until_settled(&h, 40);
    assert_eq!(linked["state"], "linked", "{linked}");
    let protection = linked["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "protection")
        .unwrap();
    assert_eq!(protection["state"], "done");
    assert!(protection["label"]
        .as_str()
        .unwrap()
        .contains("the bot cannot propose changes"));
    assert!(stored(&h).main_unprotected);
    assert!(link.borrow().protection.is_none());
}

#[test]
fn the_vm_is_stopped_given_its_account_and_started_and_the_page_is_told() {
    let (h, _link) = linking();
    let mut labels = Vec::new();
    for _ in 0..40 {
        let (_, body) = h.call(Method::Get, STATUS, None);
        if body["step"] == "vm-account" && body["state"] == "linking" {
            let label = body["steps"][8]["label"].as_str().unwrap().to_string();
            if labels.last() != Some(&label) {
                labels.push(label);
            }
        }
        if body["state"] != "linking" {
            break;
        }
    }
    assert!(
        labels.iter().any(|l| l.contains("stopping the VM")),
        "{labels:?}"
    );
    assert!(
        labels.iter().any(|l| l.contains("starting the VM again")),
        "{labels:?}"
    );
    assert!(labels.iter().all(|l| l.contains("the VM restarts once")));
}

#[test]
fn only_the_owner_sees_or_moves_a_link_and_only_from_this_site() {
    let (h, _link) = linking();
    // Another person, even one with the same project.
    let bob = h.sign_in("sub-bob", &["claw-demo"], 3600);
    let as_bob = h.send(h.request(Method::Get, STATUS, Some(&bob), None));
    assert_eq!(as_bob.status, 404);
    let as_bob = h.send(h.request(Method::Post, STATUS, Some(&bob), Some(json!({}))));
    assert_eq!(as_bob.status, 404);
    // A project not among the session's.
    let (status, _) = h.call(
        Method::Get,
        "/api/bots/someone-else/us-central1-a/my-bot-010203/github/link",
        None,
    );
    assert_eq!(status, 404);
    let signed_out = h.send(h.request(Method::Get, STATUS, None, None));
    assert_eq!(signed_out.status, 401);
    let mut cross = h.request(Method::Post, STATUS, Some(&h.cookie), Some(json!({})));
    for (k, v) in cross.headers.iter_mut() {
        if k == "origin" {
            *v = "https://evil.example".into();
        }
    }
    assert_eq!(h.send(cross).status, 403);
    let (status, body) = h.call(Method::Post, STATUS, Some(json!([1])));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string());
    assert_eq!(stored(&h).step, Step::Repository, "nothing moved");
    // A bot with no link, and a claw.free without GitHub mode.
    let (status, _) = h.call(
        Method::Get,
        "/api/bots/claw-demo/us-central1-a/other-bot-010203/github/link",
        None,
    );
    assert_eq!(status, 404);
    let off = TestApp::new();
    let (status, _) = off.call(Method::Get, STATUS, None);
    assert_eq!(status, 404);
}

#[test]
fn a_poll_that_only_waits_writes_nothing() {
    let (h, link) = linking();
    link.borrow_mut().operation_delay = 3;
    let mut waiting_polls = 0;
    for _ in 0..12 {
        // The page polls every two seconds.
        h.p.now_ms.set(h.p.now_ms.get() + 2000);
        let writes = h.p.kv_writes.get();
        let (_, body) = h.call(Method::Get, STATUS, None);
        let record = stored(&h);
        if body["step"] == "pool" && !record.waiting.is_empty() && h.p.kv_writes.get() == writes {
            waiting_polls += 1;
        }
        if body["step"] == "provider" {
            break;
        }
    }
    assert!(
        waiting_polls >= 2,
        "{waiting_polls} polls waited without a write"
    );
    assert_eq!(poll_until_settled(&h, 40)["state"], "linked");
}

#[test]
fn one_link_at_a_time_per_bot_and_only_for_the_sessions_projects() {
    let (h, _link) = linking();
    let app = crate::app::App::new(&h.p, &h.config);
    let session = run(crate::sessions::resolve(&app, &h.cookie)).unwrap();
    let target = crate::google::compute::InstanceRef {
        project: ProjectId::parse("claw-demo").unwrap(),
        zone: Zone::parse("us-central1-a").unwrap(),
        name: VmName::parse("my-bot-010203").unwrap(),
    };
    let other = RepoRef {
        id: 7,
        full_name: "alice/other".into(),
        url: "https://github.com/alice/other".into(),
    };
    let begin = |target: &crate::google::compute::InstanceRef| {
        run(super::flow::begin(
            &app,
            &session,
            target,
            99,
            other.clone(),
        ))
    };
    // A link under way is kept.
    begin(&target).unwrap();
    assert_eq!(stored(&h).repository.id, REPO_ID);
    // A failed one is replaced by the new start.
    let mut record = stored(&h);
    record.state = LinkState::Failed;
    save(&h, &record);
    begin(&target).unwrap();
    let replaced = stored(&h);
    assert_eq!((replaced.repository.id, replaced.installation), (7, 99));
    assert_eq!(
        (replaced.state, replaced.step),
        (LinkState::Linking, Step::Repository)
    );
    // Not for a bot outside the session's projects.
    let foreign = crate::google::compute::InstanceRef {
        project: ProjectId::parse("someone-else").unwrap(),
        ..target
    };
    assert!(begin(&foreign).is_err());
    assert!(
        h.p.kv_dump().contains("github-link:claw-demo/")
            && !h.p.kv_dump().contains("github-link:someone-else")
    );
}

#[test]
fn a_bot_linked_before_its_record_expired_still_answers_linked_from_its_metadata() {
    let (h, _link) = linking();
    assert_eq!(poll_until_settled(&h, 40)["state"], "linked");
    let (_, fresh) = h.call(Method::Get, STATUS, None);
    h.p.kv
        .borrow_mut()
        .retain(|k, _| !k.starts_with("github-link:"));
    let (status, later) = h.call(Method::Get, STATUS, None);
    assert_eq!(status, 200, "{later}");
    assert_eq!(later["state"], "linked");
    assert_eq!(later["repository"]["fullName"], REPO);
    assert_eq!(later["steps"], fresh["steps"]);
    // Nothing to resume, and an unlinked bot has nothing recorded.
    let (status, _) = h.call(Method::Post, STATUS, Some(json!({})));
    assert_eq!(status, 404);
    h.google
        .borrow_mut()
        .vms
        .get_mut(BOT)
        .unwrap()
        .metadata
        .retain(|(k, _)| k != plan::METADATA_KEY);
    let (status, body) = h.call(Method::Get, STATUS, None);
    assert_eq!(status, 404, "{body}");
}
