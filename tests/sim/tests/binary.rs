//! The `claw-free-sim` binary: flags, the ready line, clear errors.

use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_claw-free-sim");

#[test]
fn prints_its_address_and_serves() {
    let mut child = Command::new(BIN)
        .args([
            "--port",
            "0",
            "--client-id",
            "my-client",
            "--auto-approve",
            "--boot-step-ms",
            "200",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = claw_free_testkit::first_stdout_line(&mut child);
    let result = std::panic::catch_unwind(|| {
        let url = line
            .strip_prefix("listening on ")
            .expect("ready line")
            .to_string();
        assert!(url.starts_with("http://127.0.0.1:"));
        let config: serde_json::Value = ureq::get(&format!("{url}/_admin/config"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        assert_eq!(config["autoApprove"], true);
        assert_eq!(config["bootStepMs"], 200);
        // The configured client id is the one the consent endpoint accepts.
        let page = ureq::AgentBuilder::new().redirects(0).build()
            .get(&format!("{url}/o/oauth2/v2/auth?client_id=my-client&redirect_uri=http://x/cb&response_type=code&scope=openid"))
            .call()
            .unwrap();
        assert_eq!(page.status(), 302);
        // A long poll with no timeout must not keep the simulator from stopping.
        ureq::post(&format!("{url}/_admin/vms"))
            .send_json(serde_json::json!({ "project": "claw-demo", "zone": "us-central1-a", "instance": "held" }))
            .unwrap();
        let held = url.clone();
        std::thread::spawn(move || {
            let _ = ureq::get(&format!("{held}/_vm/claw-demo/us-central1-a/held/computeMetadata/v1/instance/attributes/?wait_for_change=true"))
                .set("Metadata-Flavor", "Google")
                .call();
        });
        // Held once the simulator has counted it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let counters: serde_json::Value = ureq::get(&format!("{url}/_admin/counters"))
                .call()
                .unwrap()
                .into_json()
                .unwrap();
            if counters["metadata.get"].as_u64() >= Some(1) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the long poll never arrived"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    // SAFETY: SIGTERM to our own child, which then stops cleanly.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    // The held poll has no timeout: without a graceful stop that ends it, the
    // simulator would wait for it forever. The deadline only keeps a failure finite.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the simulator did not stop on SIGTERM while a long poll was held");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    result.unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn refuses_unknown_flags_clearly() {
    let out = Command::new(BIN).args(["--prot", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown flag \"--prot\"") && err.contains("usage:"),
        "{err}"
    );
    let out = Command::new(BIN).args(["--port", "lots"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--port must be a whole number"));
    let out = Command::new(BIN)
        .args(["--agent", "/nonexistent/agent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/agent"));
}
