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

#[test]
fn a_paged_list_is_read_page_by_page_until_its_last_page_or_its_limit() {
    use crate::testing::{reply, run, TestPlatform};
    use serde_json::{json, Value};
    let p = TestPlatform::new();
    p.respond(|req| {
        let (items, next) = match req.url.split_once("&pageToken=") {
            None => (json!([1, 2]), json!("p/2")),
            Some((_, "p%2F2")) => (json!([3]), json!("p3")),
            Some((_, "p3")) => (json!([4]), json!("")),
            Some(_) => (json!([]), json!("more")),
        };
        reply(200, json!({ "items": items, "nextPageToken": next }))
    });
    let token = AccessToken::new("ya29.test".into());
    let read = |pages: usize, stop_after: usize| {
        let mut items = Vec::new();
        run(
            Bearer::new(&p, &token).paged("http://google/list?x=1", pages, |page: Value| {
                items.extend(
                    page["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i.as_u64().unwrap()),
                );
                page["nextPageToken"]
                    .as_str()
                    .map(str::to_string)
                    .filter(|_| items.len() < stop_after)
            }),
        )
        .unwrap();
        items
    };
    // To the page whose token is empty, the token encoded in the next page's URL.
    assert_eq!(read(10, usize::MAX), [1, 2, 3, 4]);
    assert_eq!(p.calls.borrow().len(), 3);
    assert!(p.calls.borrow()[1].url.ends_with("?x=1&pageToken=p%2F2"));
    assert!(p.calls.borrow()[0]
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bearer ya29.test"));
    // No further than the limit of pages, or than `take` wants.
    assert_eq!(read(2, usize::MAX), [1, 2, 3]);
    assert_eq!(read(10, 2), [1, 2]);
}
