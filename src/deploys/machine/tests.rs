//! The deploy machine, one Google answer at a time.

use super::*;
use crate::config::tests::development_config;
use crate::types::{BotName, ProjectId, Provider, Region};
use serde_json::{json, Value};

const T0: u64 = 1_764_000_000;
/// When the VM of these tests was created, as Compute writes it.
const CREATED: &str = "2026-11-24T08:00:00.000-08:00";

fn record(phase: Phase) -> DeployRecord {
    let bot_name = BotName::parse("My Bot").unwrap();
    DeployRecord {
        id: "d".repeat(32),
        owner: "sub-1".into(),
        session_digest: "s".repeat(64),
        telegram_token: None,
        session_expires_at: 0,
        project: ProjectId::parse("claw-demo").unwrap(),
        region: Region::UsCentral1,
        zone: Region::UsCentral1.first_zone(),
        vm_name: bot_name.vm_name([1, 2, 3]),
        bot_name,
        provider: Provider::Kimi,
        telegram_owner: None,
        phase,
        token: serde_json::from_value(json!("v1.sealed")).unwrap(),
        created_at: T0,
        updated_at: T0,
        phase_since: T0,
        running_since: None,
        finished_at: None,
        ip: None,
        secret_version: None,
        secret_error: None,
    }
}

fn step(record: &mut DeployRecord, outcome: Outcome, now: u64) -> Applied {
    let config = development_config();
    let ctx = Context {
        config: &config,
        now,
        fresh_suffix: [0xab, 0xcd, 0xef],
    };
    apply(record, outcome, &ctx)
}

fn from<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

/// A zone operation as Compute returns it.
fn zone_op(status: &str, error: Option<(&str, &str)>) -> Operation {
    let mut op = json!({
        "kind": "compute#operation",
        "id": "4120949436435960522",
        "name": "operation-1764000000000-62a4b1c2d3e4f-5a6b7c8d-9e0f1a2b",
        "zone": "https://www.googleapis.com/compute/v1/projects/claw-demo/zones/us-central1-a",
        "operationType": "insert",
        "targetLink": "https://www.googleapis.com/compute/v1/projects/claw-demo/zones/us-central1-a/instances/my-bot-010203",
        "status": status,
        "progress": 0,
    });
    if let Some((code, message)) = error {
        op["error"] = json!({"errors": [{"code": code, "message": message}]});
        op["httpErrorStatusCode"] = json!(503);
    }
    from(op)
}

fn instance(status: &str, created: &str) -> Instance {
    from(json!({
        "kind": "compute#instance",
        "name": "my-bot-010203",
        "status": status,
        "creationTimestamp": created,
        "zone": "https://www.googleapis.com/compute/v1/projects/claw-demo/zones/us-central1-a",
        "machineType": "https://www.googleapis.com/compute/v1/projects/claw-demo/zones/us-central1-a/machineTypes/e2-micro",
        "labels": {"claw-free": "bot", "claw-free-bot": "my-bot"},
        "networkInterfaces": [{"accessConfigs": [{"type": "ONE_TO_ONE_NAT", "natIP": "34.1.2.3"}]}],
        "metadata": {"fingerprint": "abc=", "items": [
            {"key": "LLM_PROVIDER", "value": "kimi"},
            {"key": "BOT_NAME", "value": "My Bot"}
        ]}
    }))
}

/// The instance as a poll sees it.
fn seen(status: &str, created: &str) -> Outcome {
    Outcome::Instance(Ok(instance(status, created)))
}

/// The VM's report, as its guest attributes come back.
fn reported(pairs: &[(&str, &str)]) -> Outcome {
    Outcome::GuestAttributes(Ok(GuestAttributes::from_pairs(pairs)))
}

/// Compute refusing the insert with `status` and `reason`.
fn insert_refused(status: u16, reason: &str) -> Outcome {
    Outcome::Insert(Err(google_error(status, reason)))
}

fn google_error(status: u16, reason: &str) -> GoogleFailure {
    let body = claw_free_protocol::google::ApiError::new(status, reason, "it failed");
    GoogleFailure::from_response(&crate::http::OutboundResponse {
        status,
        body: serde_json::to_vec(&body).unwrap(),
    })
}

fn failed_message(record: &DeployRecord) -> &str {
    match &record.phase {
        Phase::Failed { message, .. } => message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn each_phase_asks_for_the_call_it_needs() {
    let op = |s: &str| s.to_string();
    let cases = [
        (
            Phase::Enabling {
                step: EnableStep::Request,
            },
            Some(Call::Enable),
        ),
        (
            Phase::Enabling {
                step: EnableStep::Operation(op("operations/e1")),
            },
            Some(Call::EnableOperation(op("operations/e1"))),
        ),
        (
            Phase::Enabling {
                step: EnableStep::Propagating,
            },
            Some(Call::Insert),
        ),
        (Phase::Inserting, Some(Call::Insert)),
        (Phase::CheckingName, Some(Call::InspectName)),
        (
            Phase::Creating {
                operation: op("op-1"),
            },
            Some(Call::Instance),
        ),
        (
            Phase::CheckingOperation {
                operation: op("op-1"),
            },
            Some(Call::ZoneOperation(op("op-1"))),
        ),
        (Phase::Booting, Some(Call::Instance)),
        (
            Phase::Configuring {
                waiting_for_secret: true,
            },
            Some(Call::GuestAttributes),
        ),
        (Phase::Starting, Some(Call::GuestAttributes)),
        (Phase::Done, None),
        (
            Phase::Failed {
                message: "x".into(),
                action: None,
                logs: false,
            },
            None,
        ),
    ];
    for (phase, call) in cases {
        assert_eq!(next_call(&record(phase.clone())), call, "{phase:?}");
    }
    let mut running = record(Phase::Booting);
    running.running_since = Some(T0);
    assert_eq!(next_call(&running), Some(Call::GuestAttributes));
}

#[test]
fn an_accepted_insert_is_watched_through_its_instance_and_its_operation_only_when_missing() {
    let mut r = record(Phase::Inserting);
    step(&mut r, Outcome::Insert(Ok(zone_op("PENDING", None))), T0);
    let operation = "operation-1764000000000-62a4b1c2d3e4f-5a6b7c8d-9e0f1a2b".to_string();
    assert_eq!(
        r.phase,
        Phase::Creating {
            operation: operation.clone()
        }
    );
    let before = r.clone();
    for status in ["PROVISIONING", "STAGING"] {
        step(&mut r, seen(status, CREATED), T0 + 5);
        assert_eq!(r, before, "{status}: nothing to keep until it runs");
    }
    step(&mut r, seen("RUNNING", CREATED), T0 + 10);
    assert_eq!(r.phase, Phase::Booting);
    assert_eq!(
        (r.running_since, r.ip.as_deref()),
        (Some(T0 + 10), Some("34.1.2.3")),
        "running, its start and address in one change"
    );
    assert_eq!(next_call(&r), Some(Call::GuestAttributes));

    let mut r = before.clone();
    step(
        &mut r,
        Outcome::Instance(Err(GoogleFailure::NotFound("gone".into()))),
        T0 + 5,
    );
    assert_eq!(
        r.phase,
        Phase::CheckingOperation {
            operation: operation.clone()
        }
    );
    let checking = r.clone();
    step(
        &mut r,
        Outcome::ZoneOperation(Ok(zone_op("RUNNING", None))),
        T0 + 6,
    );
    assert_eq!(r, checking, "a running operation changes nothing");
    step(
        &mut r,
        Outcome::ZoneOperation(Ok(zone_op("DONE", None))),
        T0 + 10,
    );
    assert_eq!(r.phase, Phase::Booting);
    assert_eq!(r.phase_since, T0 + 10);
}

#[test]
fn booting_records_when_the_vm_runs_and_its_address() {
    let mut r = record(Phase::Booting);
    let before = r.clone();
    step(&mut r, seen("STAGING", CREATED), T0 + 20);
    assert_eq!(r, before, "staging: nothing worth a write yet");
    step(&mut r, seen("RUNNING", CREATED), T0 + 30);
    assert_eq!(r.running_since, Some(T0 + 30));
    assert_eq!(r.ip.as_deref(), Some("34.1.2.3"));
    step(&mut r, seen("RUNNING", CREATED), T0 + 40);
    assert_eq!(r.running_since, Some(T0 + 30), "the first sighting counts");
    assert_eq!(r.phase, Phase::Booting);
}

#[test]
fn guest_attributes_drive_configuring_starting_and_done() {
    let mut r = record(Phase::Booting);
    r.running_since = Some(T0);
    step(&mut r, reported(&[]), T0 + 5);
    assert_eq!(r.phase, Phase::Booting, "no report yet");
    step(
        &mut r,
        reported(&[
            ("setup", "waiting-secret"),
            ("recipient", crate::testing::VM_RECIPIENT.trim()),
        ]),
        T0 + 10,
    );
    assert_eq!(
        r.phase,
        Phase::Configuring {
            waiting_for_secret: true
        }
    );
    assert_eq!(r.phase.label(), "Waiting for the Telegram token");
    step(&mut r, reported(&[("setup", "configuring")]), T0 + 15);
    assert_eq!(
        r.phase,
        Phase::Configuring {
            waiting_for_secret: false
        }
    );
    step(&mut r, reported(&[("setup", "starting")]), T0 + 20);
    assert_eq!(r.phase, Phase::Starting);
    step(
        &mut r,
        reported(&[("setup", "ready"), ("health", "ok 1764000025")]),
        T0 + 25,
    );
    assert_eq!(r.phase, Phase::Done);
    assert_eq!(r.finished_at, Some(T0 + 25));
    assert_eq!(next_call(&r), None);
}

#[test]
fn a_failed_setup_ends_with_its_reason_and_the_logs() {
    let mut r = record(Phase::Starting);
    r.running_since = Some(T0);
    step(
        &mut r,
        reported(&[("setup", "failed:openclaw config invalid")]),
        T0 + 60,
    );
    assert!(failed_message(&r).contains("openclaw config invalid"));
    assert!(matches!(r.phase, Phase::Failed { logs: true, .. }));
}

#[test]
fn not_ready_within_the_deadline_is_an_error_with_logs() {
    let timeout = development_config().limits.ready_timeout_secs;
    let mut r = record(Phase::Configuring {
        waiting_for_secret: false,
    });
    r.running_since = Some(T0);
    step(&mut r, reported(&[("setup", "starting")]), T0 + timeout);
    assert_eq!(
        r.phase,
        Phase::Starting,
        "exactly at the deadline is still in time"
    );
    step(&mut r, reported(&[("setup", "starting")]), T0 + timeout + 1);
    assert!(
        failed_message(&r).contains("not ready 5 minutes after"),
        "{}",
        failed_message(&r)
    );
    assert!(matches!(r.phase, Phase::Failed { logs: true, .. }));
    // Ready at the last moment wins over the deadline.
    let mut r = record(Phase::Starting);
    r.running_since = Some(T0);
    step(&mut r, reported(&[("setup", "ready")]), T0 + timeout + 30);
    assert_eq!(r.phase, Phase::Done);
}

#[test]
fn zone_exhausted_moves_to_the_next_zone_then_gives_up() {
    let exhausted = || insert_refused(503, "ZONE_RESOURCE_POOL_EXHAUSTED");
    let mut r = record(Phase::Inserting);
    step(&mut r, exhausted(), T0);
    assert_eq!(r.zone.as_str(), "us-central1-b");
    assert_eq!(r.phase, Phase::Inserting);
    // Inside a finished operation too.
    r.phase = Phase::Creating {
        operation: "op".into(),
    };
    step(
        &mut r,
        Outcome::ZoneOperation(Ok(zone_op(
            "DONE",
            Some(("ZONE_RESOURCE_POOL_EXHAUSTED", "no e2-micro")),
        ))),
        T0 + 5,
    );
    assert_eq!(r.zone.as_str(), "us-central1-c");
    assert_eq!(r.phase, Phase::Inserting);
    r.zone = crate::types::Zone::parse("us-central1-f").unwrap();
    step(&mut r, exhausted(), T0 + 10);
    assert!(failed_message(&r).contains("no free e2-micro capacity"));
}

#[test]
fn a_taken_name_is_checked_then_replaced_or_adopted() {
    // A deploy checking its name finds a claw.free bot of that name created at
    // `created`, at `now`.
    let finds_bot = |created: &str, now: u64| {
        let mut r = record(Phase::CheckingName);
        step(
            &mut r,
            Outcome::InspectName(Ok(instance("RUNNING", created))),
            now,
        );
        r
    };
    let mut r = record(Phase::Inserting);
    step(&mut r, insert_refused(409, "alreadyExists"), T0);
    assert_eq!(r.phase, Phase::CheckingName);
    // Someone else's VM (no claw.free label): a new suffix.
    let mut foreign = instance("RUNNING", "2020-01-01T00:00:00Z");
    foreign.labels.clear();
    step(&mut r, Outcome::InspectName(Ok(foreign)), T0 + 1);
    assert_eq!(r.vm_name.as_str(), "my-bot-abcdef");
    assert_eq!(r.phase, Phase::Inserting);
    // An older bot of the same name that happened to draw the same suffix: not ours.
    let r = finds_bot("2025-01-01T00:00:00Z", T0 + 1);
    assert_eq!(r.vm_name.as_str(), "my-bot-abcdef");
    // Created by an earlier attempt of this very deploy: adopted.
    let r = finds_bot("2025-11-24T08:00:05.000-08:00", T0 + 30);
    assert_eq!(r.vm_name.as_str(), "my-bot-010203");
    assert_eq!(r.phase, Phase::Booting);
    assert_eq!(r.running_since, Some(T0 + 30));
}

#[test]
fn compute_disabled_is_enabled_without_holding_the_request() {
    let mut r = record(Phase::Inserting);
    let disabled = GoogleFailure::from_response(&crate::http::OutboundResponse {
        status: 403,
        body: serde_json::to_vec(&claw_free_protocol::google::ApiError::service_disabled(
            "123",
            "compute.googleapis.com",
        ))
        .unwrap(),
    });
    step(&mut r, Outcome::Insert(Err(disabled.clone())), T0);
    assert_eq!(
        r.phase,
        Phase::Enabling {
            step: EnableStep::Request
        }
    );
    assert_eq!(r.phase.status(), "enabling");
    step(
        &mut r,
        Outcome::Enable(Ok(from(
            json!({"name": "operations/acf.p2-123", "metadata": {}}),
        ))),
        T0 + 1,
    );
    assert_eq!(
        r.phase,
        Phase::Enabling {
            step: EnableStep::Operation("operations/acf.p2-123".into())
        }
    );
    step(
        &mut r,
        Outcome::EnableOperation(Ok(from(
            json!({"name": "operations/acf.p2-123", "done": true, "response": {}}),
        ))),
        T0 + 40,
    );
    assert_eq!(
        r.phase,
        Phase::Enabling {
            step: EnableStep::Propagating
        }
    );
    // Compute may say "disabled" a little longer; then it is a real error.
    step(&mut r, Outcome::Insert(Err(disabled.clone())), T0 + 60);
    assert_eq!(
        r.phase,
        Phase::Enabling {
            step: EnableStep::Propagating
        }
    );
    step(
        &mut r,
        Outcome::Insert(Err(disabled)),
        T0 + 40 + ENABLE_PROPAGATION_SECS + 1,
    );
    assert!(failed_message(&r).contains("not enabled"));
    let Phase::Failed {
        action: Some(action),
        ..
    } = &r.phase
    else {
        panic!()
    };
    assert!(action
        .url
        .starts_with("https://console.developers.google.com/apis/api/compute.googleapis.com"));
}

#[test]
fn an_operation_that_ends_in_error_is_explained() {
    let mut r = record(Phase::Creating {
        operation: "op".into(),
    });
    step(
        &mut r,
        Outcome::ZoneOperation(Ok(zone_op(
            "DONE",
            Some((
                "QUOTA_EXCEEDED",
                "Quota 'CPUS' exceeded. Limit: 0.0 in region us-central1.",
            )),
        ))),
        T0 + 5,
    );
    assert!(
        failed_message(&r).contains("quota"),
        "{}",
        failed_message(&r)
    );
    assert!(failed_message(&r).contains("CPUS"));
    let Phase::Failed {
        action: Some(action),
        logs,
        ..
    } = &r.phase
    else {
        panic!()
    };
    assert!(action.url.contains("iam-admin/quotas") && !logs);
}

#[test]
fn transient_failures_leave_the_record_alone() {
    for phase in [
        Phase::Inserting,
        Phase::Creating {
            operation: "op".into(),
        },
        Phase::Booting,
        Phase::Starting,
    ] {
        let mut r = record(phase);
        let before = r.clone();
        for failure in [
            google_error(503, "backendError"),
            google_error(429, "rateLimitExceeded"),
            GoogleFailure::Transient("no answer".into()),
        ] {
            let outcome = match next_call(&r).unwrap() {
                Call::Insert => Outcome::Insert(Err(failure)),
                Call::ZoneOperation(_) => Outcome::ZoneOperation(Err(failure)),
                Call::Instance => Outcome::Instance(Err(failure)),
                Call::GuestAttributes => Outcome::GuestAttributes(Err(failure)),
                other => panic!("{other:?}"),
            };
            assert_eq!(step(&mut r, outcome, T0 + 9), Applied::Transient);
            assert_eq!(r, before);
        }
    }
}

#[test]
fn a_failure_ends_the_deploy_with_its_reason() {
    for (phase, outcome, now, reason) in [
        // An enable operation that fails.
        (
            Phase::Enabling {
                step: EnableStep::Operation("operations/x".into()),
            },
            Outcome::EnableOperation(Ok(from(
                json!({"name": "operations/x", "done": true, "error": {"code": 9, "message": "Billing must be enabled for activation of service."}}),
            ))),
            T0 + 30,
            "Billing must be enabled",
        ),
        // An expired token asks to sign in again.
        (
            Phase::Starting,
            Outcome::GuestAttributes(Err(google_error(401, "authError"))),
            T0 + 9,
            "Sign in again",
        ),
        // A VM that stops or vanishes while booting.
        (
            Phase::Booting,
            seen("TERMINATED", "2026-11-24T08:00:00Z"),
            T0 + 9,
            "stopped before it was ready",
        ),
        (
            Phase::Booting,
            Outcome::Instance(Err(google_error(404, "notFound"))),
            T0 + 9,
            "deleted",
        ),
    ] {
        let mut r = record(phase);
        step(&mut r, outcome, now);
        assert!(failed_message(&r).contains(reason), "{reason}: {r:?}");
    }
}

#[test]
fn a_secret_the_vm_could_not_read_is_shown() {
    let mut r = record(Phase::Configuring {
        waiting_for_secret: false,
    });
    r.running_since = Some(T0);
    r.secret_version = Some(1_764_000_000_500);
    step(
        &mut r,
        reported(&[
            ("setup", "waiting-secret"),
            ("secret-error", "1764000000500 not encrypted to this VM"),
        ]),
        T0 + 9,
    );
    assert!(r
        .secret_error
        .as_deref()
        .unwrap()
        .contains("not encrypted to this VM"));
    // An error about an older secret is not this deploy's problem.
    r.secret_version = Some(1_764_000_009_000);
    step(
        &mut r,
        reported(&[
            ("setup", "waiting-secret"),
            ("secret-error", "1764000000500 not encrypted to this VM"),
        ]),
        T0 + 10,
    );
    assert_eq!(r.secret_error, None);
}

#[test]
fn parses_googles_timestamps() {
    assert_eq!(unix_from_rfc3339("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(
        unix_from_rfc3339("2025-11-24T16:00:00.000Z"),
        Some(1_764_000_000)
    );
    assert_eq!(
        unix_from_rfc3339("2025-11-24T08:00:00.000-08:00"),
        Some(1_764_000_000)
    );
    assert_eq!(
        unix_from_rfc3339("2025-11-24T17:30:00+01:30"),
        Some(1_764_000_000)
    );
    assert_eq!(unix_from_rfc3339("yesterday"), None);
    assert_eq!(unix_from_rfc3339(""), None);
}
