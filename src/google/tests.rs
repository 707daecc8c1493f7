//! Google's failures, explained.

use super::*;
use claw_free_protocol::google::ApiError as Body;

fn response(status: u16, body: &Body) -> OutboundResponse {
    OutboundResponse {
        status,
        body: serde_json::to_vec(body).unwrap(),
    }
}

#[test]
fn classifies_googles_errors() {
    let disabled = response(
        403,
        &Body::service_disabled("123", "compute.googleapis.com"),
    );
    let GoogleFailure::ServiceDisabled { activation_url } = GoogleFailure::from_response(&disabled)
    else {
        panic!()
    };
    assert!(activation_url.unwrap().contains("compute.googleapis.com"));
    let billing = Body::new(
        400,
        "failedPrecondition",
        "Billing account for project '123' is not found.",
    )
    .with_status("FAILED_PRECONDITION")
    .with_error_info(
        "UREQ_PROJECT_BILLING_NOT_FOUND",
        "serviceusage.googleapis.com",
        serde_json::json!({}),
    );
    assert!(matches!(
        GoogleFailure::from_response(&response(400, &billing)),
        GoogleFailure::BillingDisabled { .. }
    ));
    let quota = Body::new(
        403,
        "quotaExceeded",
        "Quota 'CPUS' exceeded.  Limit: 0.0 in region us-east1.",
    );
    assert!(matches!(
        GoogleFailure::from_response(&response(403, &quota)),
        GoogleFailure::QuotaExceeded(_)
    ));
    assert_eq!(
        GoogleFailure::from_response(&response(401, &Body::new(401, "authError", "x"))),
        GoogleFailure::Unauthenticated
    );
    assert!(
        GoogleFailure::from_response(&response(503, &Body::new(503, "backendError", "x")))
            .is_transient()
    );
    assert!(GoogleFailure::from_response(&OutboundResponse {
        status: 502,
        body: b"<html>".to_vec()
    })
    .is_transient());
    assert_eq!(
        GoogleFailure::from_response(&response(412, &Body::new(412, "conditionNotMet", "x"))),
        GoogleFailure::FingerprintMismatch
    );
}

#[test]
fn messages_never_carry_credentials() {
    let cleaned = sanitize("Token ya29.a0AfH6SMBx is invalid for bot 123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0\nretry");
    assert!(!cleaned.contains("ya29"), "{cleaned}");
    assert!(!cleaned.contains("AAHfiqks"), "{cleaned}");
    assert!(!cleaned.contains('\n'));
    assert!(cleaned.ends_with("retry"));
}
