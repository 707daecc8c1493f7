use super::*;
use crate::github::app_jwt::tests::FIXTURE_PEM as OTHER_PEM;
use crate::testing::google_identity::{self as g, jwks, sign_with, token, vm_claims, KID};
use crate::testing::{reply, run, TestPlatform};
use serde_json::{json, Value};

const SITE: &str = "https://claw.free";
const VM: (&str, &str, &str, &str) = ("claw-demo", "us-east1-b", "my-bot-010203", "4242");

fn platform() -> TestPlatform {
    let p = TestPlatform::new();
    p.respond(|req| {
        if req.url == g::CERTS_URL {
            reply(200, jwks())
        } else {
            reply(404, json!({}))
        }
    });
    p
}

fn check(p: &TestPlatform, token: &str) -> Result<VmIdentity, IdentityError> {
    run(verify(p, g::CERTS_URL, token, SITE))
}

fn header() -> Value {
    json!({"alg": "RS256", "kid": KID, "typ": "JWT"})
}

#[test]
fn googles_token_for_this_site_names_the_vm() {
    let p = platform();
    let now = p.now_secs();
    assert_eq!(
        check(&p, &token(SITE, now, VM)).unwrap(),
        VmIdentity {
            project: "claw-demo".into(),
            zone: "us-east1-b".into(),
            instance: "my-bot-010203".into(),
            instance_id: "4242".into(),
        }
    );
    // Another VM's token names that VM, never this one.
    let other = check(
        &p,
        &token(
            SITE,
            now,
            ("claw-demo", "us-east1-b", "my-bot-010203", "4343"),
        ),
    );
    assert_eq!(other.unwrap().instance_id, "4343");
}

#[test]
fn a_signature_not_by_googles_published_key_is_refused() {
    let p = platform();
    let now = p.now_secs();
    let claims = vm_claims(SITE, now, VM);
    // Signed by another key under Google's kid.
    let forged = sign_with(OTHER_PEM, &header(), &claims);
    assert_eq!(check(&p, &forged), Err(IdentityError::BadSignature));
    // Google's key, claims changed after signing.
    let genuine = token(SITE, now, VM);
    let mut parts: Vec<String> = genuine.split('.').map(str::to_string).collect();
    let mut changed = claims.clone();
    changed["google"]["compute_engine"]["instance_id"] = json!("9999");
    parts[1] = URL_SAFE_NO_PAD.encode(changed.to_string());
    assert_eq!(
        check(&p, &parts.join(".")),
        Err(IdentityError::BadSignature)
    );
    // A kid Google does not publish.
    let unknown = sign_with(
        g::GOOGLE_PEM,
        &json!({"alg": "RS256", "kid": "not-googles"}),
        &claims,
    );
    assert_eq!(check(&p, &unknown), Err(IdentityError::BadSignature));
    // `alg: none` and HMAC are not RS256.
    for alg in ["none", "HS256"] {
        let other = sign_with(g::GOOGLE_PEM, &json!({"alg": alg, "kid": KID}), &claims);
        assert_eq!(check(&p, &other), Err(IdentityError::Malformed), "{alg}");
    }
}

#[test]
fn wrong_audience_issuer_or_time_is_refused() {
    let p = platform();
    let now = p.now_secs();
    let signed = |f: &dyn Fn(&mut Value)| {
        let mut claims = vm_claims(SITE, now, VM);
        f(&mut claims);
        sign_with(g::GOOGLE_PEM, &header(), &claims)
    };
    assert_eq!(
        check(&p, &token("https://evil.test", now, VM)),
        Err(IdentityError::WrongAudience)
    );
    assert_eq!(
        check(&p, &token("https://claw.free/", now, VM)),
        Err(IdentityError::WrongAudience)
    );
    assert_eq!(
        check(&p, &signed(&|c| c["iss"] = json!("https://evil.test"))),
        Err(IdentityError::WrongIssuer)
    );
    assert_eq!(
        check(&p, &signed(&|c| c["exp"] = json!(now))),
        Err(IdentityError::Expired)
    );
    assert_eq!(
        check(&p, &signed(&|c| c["iat"] = json!(now + 600))),
        Err(IdentityError::Expired)
    );
    // A `format=standard` token carries no VM.
    assert_eq!(
        check(
            &p,
            &signed(&|c| {
                c.as_object_mut().unwrap().remove("google");
            })
        ),
        Err(IdentityError::NotAVm)
    );
    // A token that was good expires with time.
    let good = token(SITE, now, VM);
    assert!(check(&p, &good).is_ok());
    p.advance_secs(3600);
    assert_eq!(check(&p, &good), Err(IdentityError::Expired));
}

#[test]
fn malformed_tokens_are_refused_before_any_key_is_fetched() {
    let p = platform();
    let now = p.now_secs();
    let long = "a".repeat(5000);
    for bad in [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "..",
        "!!!.???.***",
        long.as_str(),
    ] {
        assert_eq!(check(&p, bad), Err(IdentityError::Malformed), "{bad}");
    }
    // None of these reached Google's keys.
    assert!(p.call_log().is_empty(), "{:?}", p.call_log());
    // Signed by Google, but claims a VM cannot have.
    let mut wrong_type = vm_claims(SITE, now, VM);
    wrong_type["google"]["compute_engine"]["instance_id"] = json!(4242);
    assert_eq!(
        check(&p, &sign_with(g::GOOGLE_PEM, &header(), &wrong_type)),
        Err(IdentityError::Malformed)
    );
    let mut hostile = vm_claims(SITE, now, VM);
    hostile["google"]["compute_engine"]["instance_name"] = json!("../../x\n");
    assert_eq!(
        check(&p, &sign_with(g::GOOGLE_PEM, &header(), &hostile)),
        Err(IdentityError::Malformed)
    );
}

#[test]
fn keys_are_cached_and_fetched_again_for_a_new_kid_at_most_once_a_minute() {
    let p = platform();
    let now = p.now_secs();
    for _ in 0..3 {
        check(&p, &token(SITE, now, VM)).unwrap();
    }
    assert_eq!(p.call_log(), vec![format!("GET {}", g::CERTS_URL)]);
    let rotated = sign_with(
        g::GOOGLE_PEM,
        &json!({"alg": "RS256", "kid": "next"}),
        &vm_claims(SITE, now, VM),
    );
    assert_eq!(check(&p, &rotated), Err(IdentityError::BadSignature));
    assert_eq!(p.call_log().len(), 1, "refetched within the minute");
    p.advance_secs(61);
    let now = p.now_secs();
    let rotated = sign_with(
        g::GOOGLE_PEM,
        &json!({"alg": "RS256", "kid": "next"}),
        &vm_claims(SITE, now, VM),
    );
    assert_eq!(check(&p, &rotated), Err(IdentityError::BadSignature));
    assert_eq!(p.call_log().len(), 2);
    // After an hour the set is fetched again even for a known kid.
    p.advance_secs(3600);
    check(&p, &token(SITE, p.now_secs(), VM)).unwrap();
    assert_eq!(p.call_log().len(), 3);
}

#[test]
fn google_unreachable_is_not_a_bad_token() {
    let p = TestPlatform::new();
    p.respond(|_| reply(503, json!({})));
    let now = p.now_secs();
    assert!(matches!(
        check(&p, &token(SITE, now, VM)),
        Err(IdentityError::KeysUnavailable(_))
    ));
}
