//! GitHub mode's journey on the VM side, end to end: the owner's project gets what
//! linking makes (the Worker's own plan: Workload Identity, CI's and the VM's service
//! accounts, the bucket, every grant); a CI stand-in, keyless as a GitHub Actions job of
//! the repository's `main`, builds and signs a system with the real `nix`, uploads it to
//! the simulator's Cloud Storage bucket as CI's service account and names it in
//! instance metadata; on the VM the real agent's
//! `serve-cache` serves the bucket to the real `nix-store --realise` with the VM's
//! read-only service-account token, and the real `rollouts` switches, checks health and
//! reports. The `switch-to-configuration` scripts are stand-ins (no NixOS activation
//! can run here), as in the rollout tests; the Nix store is a chroot store in the test
//! root, filled only by Nix's substitution from the bucket.

mod support;

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use claw_free_testkit::keyless::{self, plan::Resource, plan::Target};
use serde_json::{json, Value};
use support::ci::{Ci, Outcome};
use support::*;

const TOKEN: &str = "7000000001:AAFirstTokenFirstTokenFirstTokenFirst";
const GATEWAY: &str = "openclaw-gateway.service";
const REPOSITORY: &str = "ada-lovelace/journey-bot";
/// A system's bulk: past the resumable threshold of CI's uploads, and two chunks.
const PAYLOAD: usize = 9 * 1024 * 1024;
const READ_ONLY: &str = "https://www.googleapis.com/auth/devstorage.read_only";

/// The owner's token, through the simulator's OAuth consent (approved automatically).
fn owner_token(sim: &Sim) -> String {
    sim.admin("/_admin/config", json!({"autoApprove": true}));
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .proxy(None)
            .max_redirects(0)
            .http_status_as_error(false)
            .build(),
    );
    let redirect = "http://127.0.0.1:9/callback";
    let auth = agent
        .get(&format!(
            "{}/o/oauth2/v2/auth?client_id=claw-free-local&response_type=code&scope=https://www.googleapis.com/auth/cloud-platform&redirect_uri={redirect}",
            sim.base
        ))
        .call()
        .unwrap();
    let location = auth.headers()["location"].to_str().unwrap().to_string();
    let code = location
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("code="))
        .expect("a code")
        .replace("%2F", "/");
    let mut token = agent
        .post(&format!("{}/token", sim.base))
        .send_form([
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", "claw-free-local"),
            ("client_secret", "local-secret"),
            ("redirect_uri", redirect),
        ])
        .unwrap();
    let body: Value = serde_json::from_str(&token.body_mut().read_to_string().unwrap()).unwrap();
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {body} (from {location})"))
        .to_string()
}

/// The VM's read access to the bucket, as the plan grants it, given or withdrawn.
fn vm_reads(sim: &Sim, owner: &str, target: &Target, reads: bool) {
    let grant = target
        .grants()
        .into_iter()
        .find(|g| {
            matches!(g.resource, Resource::Bucket(_))
                && g.member == format!("serviceAccount:{}", target.vm_account())
        })
        .expect("the plan lets the VM read the bucket");
    keyless::change_policy(sim, owner, target, &grant.resource, |policy| {
        if reads {
            keyless::with_binding(policy, grant.role, &grant.member)
        } else {
            keyless::without_role(policy, grant.role)
        }
    });
}

struct Journey {
    sim: Sim,
    root: Root,
    _app: FakeApp,
    vm: String,
    owner: String,
    target: Target,
    ci: Ci,
    _cache: Agent,
    _agent: Agent,
}

impl Journey {
    fn start() -> Self {
        let sim = Sim::start();
        sim.admin(
            "/_admin/telegram/bots",
            json!({"token": TOKEN, "username": "journey_bot"}),
        );
        // The owner's project, the repository linked to it, and the bot's VM, which runs
        // as the VM's service account; then everything linking makes.
        let owner_email = "ada@example.com";
        sim.admin(
            "/_admin/projects",
            json!({"projectId": PROJECT, "ownerEmail": owner_email}),
        );
        let (_, repo) = REPOSITORY.split_once('/').unwrap();
        sim.admin("/_admin/github/repos", json!({"name": repo}));
        let vm = instance_name("journey");
        let target = keyless::target(&sim, PROJECT, ZONE, &vm, REPOSITORY);
        sim.admin(
            "/_admin/vms",
            json!({
                "project": PROJECT, "zone": ZONE, "instance": vm, "metadata": bot_metadata(),
                "runAgent": false,
                "serviceAccounts": [{"email": target.vm_account(), "scopes": [READ_ONLY]}]
            }),
        );
        let owner = owner_token(&sim);
        keyless::link(&sim, &owner, &target);
        let ci = Ci::new(&sim, &target, REPOSITORY);

        let root = Root::new();
        let app = FakeApp::start(Health::Status(200));
        let secrets = root.state().join("secrets");
        fs::create_dir_all(&secrets).unwrap();
        fs::set_permissions(&secrets, fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(root.secret("telegram-token"), TOKEN).unwrap();
        for dir in ["units", "run"] {
            fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        // The image's own system, not from the cache.
        let image = format!("/nix/store/{}-nixos-system-image", "1".repeat(32));
        let bin = root.path().join(image.trim_start_matches('/')).join("bin");
        fs::create_dir_all(&bin).unwrap();
        let switch = bin.join("switch-to-configuration");
        fs::write(&switch, system_script(&root, "image", true)).unwrap();
        fs::set_permissions(&switch, fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink(&image, root.path().join("run/current-system")).unwrap();
        fs::write(root.path().join("units").join(GATEWAY), "").unwrap();

        // The substituter, as its own unit would run it.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cache = Agent::spawn(
            &root,
            "serve-cache",
            &[
                "--metadata-url".to_string(),
                sim.metadata_url(&vm),
                "--cache-bucket".into(),
                target.bucket(),
                "--cache-listen".into(),
                format!("127.0.0.1:{port}"),
                "--storage-api".into(),
                sim.base.clone(),
            ],
        );
        wait_for("the substituter to listen", Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });

        let r = root.path().display().to_string();
        let cache_url = format!("http://127.0.0.1:{port}");
        let mut args = root.agent_args(&sim, &vm, &app.url);
        args.extend(
            [
                "--rollouts",
                "on",
                "--system-cache-url",
                &cache_url,
                // Nix's own fetch, into a store rooted in the test folder, trusting only
                // the repository's cache key; no negative lookups remembered, so a path
                // uploaded after a failed attempt is found.
                "--system-fetch-cmd",
                &format!(
                    "NIX_CONFIG='build-users-group =' XDG_CACHE_HOME='{r}/xdg' NIX_REMOTE= \
                     nix-store --store '{r}' --realise {{path}} \
                     --option substituters {cache_url} \
                     --option trusted-public-keys '{}' \
                     --option narinfo-cache-negative-ttl 0 --option narinfo-cache-positive-ttl 0",
                    ci.public_key
                ),
                "--system-switch-cmd",
                &format!("'{r}'{{path}}/bin/switch-to-configuration test"),
                "--system-boot-cmd",
                &format!("'{r}'{{path}}/bin/switch-to-configuration boot"),
                "--unit-check-cmd",
                &format!("test -e '{r}/units/{{unit}}'"),
                "--watched-units",
                GATEWAY,
                "--telegram-api",
                &sim.base,
                "--rollout-deadline-secs",
                "5",
            ]
            .map(String::from),
        );
        let agent = Agent::spawn(&root, "run", &args);
        Self {
            sim,
            root,
            _app: app,
            vm,
            owner,
            target,
            ci,
            _cache: cache,
            _agent: agent,
        }
    }

    /// A stand-in system from the owner's repository, built by CI (not yet uploaded).
    fn build(&self, name: &str, healthy_switch: bool) -> String {
        self.ci.build(
            &format!("nixos-system-{name}"),
            &system_script(&self.root, name, healthy_switch),
        )
    }

    fn deploy(&self, path: &str, rev: &str) -> Outcome {
        self.ci.deploy(&self.sim, path, rev, false)
    }

    fn read(&self, file: &str) -> String {
        fs::read_to_string(self.root.path().join(file))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// The running system, the boot default and the revision the VM reports.
    fn state(&self) -> (String, String, Option<String>) {
        (
            self.read("active"),
            self.read("boot-default"),
            self.sim.guest(&self.vm, "system"),
        )
    }

    fn on_vm(&self, path: &str) -> bool {
        self.root.path().join(path.trim_start_matches('/')).exists()
    }
}

/// A stand-in `switch-to-configuration`: `test` records the system as running and
/// starts the gateway (or fails halfway); `boot` records the boot default.
fn system_script(root: &Root, name: &str, healthy: bool) -> String {
    let r = root.path().display();
    let on_test = if healthy {
        format!("touch '{r}/units/{GATEWAY}'")
    } else {
        "exit 1".to_string()
    };
    format!(
        "#!/bin/sh\n\
         case \"$1\" in\n\
         test) echo {name} > '{r}/active'; {on_test} ;;\n\
         boot) echo {name} > '{r}/boot-default' ;;\n\
         esac\n"
    )
}

fn red(outcome: Outcome) -> String {
    match outcome {
        Outcome::Red(reason) => reason,
        Outcome::Green => panic!("expected the rollout to fail"),
    }
}

#[test]
fn ci_ships_through_the_bucket_and_the_vm_switches_rolls_back_and_reports() {
    let j = Journey::start();

    // A healthy system: fetched by Nix through the substituter, switched, the boot default.
    let reads_before = j.sim.counter("storage.objects.get");
    // Its archive is larger than any one request to Cloud Storage but an upload's: CI
    // sends it through a resumable session, in chunks.
    let two = j.ci.build_with_payload(
        "nixos-system-bot-2",
        &system_script(&j.root, "bot-2", true),
        PAYLOAD,
    );
    assert!(!j.on_vm(&two));
    assert_eq!(
        j.ci.publish_counting(&j.sim, &two),
        1,
        "the archive, resumable"
    );
    assert_eq!(j.deploy(&two, "2222222"), Outcome::Green);
    assert!(j.on_vm(&two), "Nix put the system in the VM's store");
    let payload = j
        .root
        .path()
        .join(two.trim_start_matches('/'))
        .join("share/payload");
    assert_eq!(
        fs::metadata(&payload).map(|m| m.len() as usize).ok(),
        Some(PAYLOAD),
        "the whole archive arrived"
    );
    assert_eq!(
        j.sim.counter("compute.instances.setMetadata"),
        1,
        "CI named it through Compute's setMetadata"
    );
    assert!(
        j.sim.counter("storage.objects.get") >= reads_before + 2,
        "the narinfo and the archive came from the bucket"
    );
    assert_eq!(
        j.state(),
        ("bot-2".into(), "bot-2".into(), Some("2222222".into()))
    );

    // Every token expires: the substituter's is refused once, renewed from the
    // metadata server, and the next system arrives all the same.
    let expired = j.sim.admin(
        "/_admin/tokens/expire",
        json!({"email": j.target.vm_account()}),
    );
    assert_eq!(expired["expired"], 1, "{expired}");
    let renewed = j.build("bot-2b", true);
    j.ci.publish(&j.sim, &renewed);
    assert_eq!(j.deploy(&renewed, "2b2b2b2"), Outcome::Green);
    assert_eq!(j.read("active"), "bot-2b");
    let back = j.ci.deploy(&j.sim, &two, "2222222", true);
    assert_eq!(back, Outcome::Green);

    // A broken one: its activation fails, the VM returns to bot-2 by itself and says why.
    let broken = j.build("bot-3-broken", false);
    j.ci.publish(&j.sim, &broken);
    let reason = red(j.deploy(&broken, "3333333"));
    assert!(
        reason.starts_with("rolled back: activating the system failed (exit status 1)"),
        "{reason}"
    );
    assert_eq!(
        j.state(),
        ("bot-2".into(), "bot-2".into(), Some("2222222".into()))
    );

    // Another healthy one, then a manual roll back to bot-2 (already on the VM, not fetched).
    let four = j.build("bot-4", true);
    j.ci.publish(&j.sim, &four);
    assert_eq!(j.deploy(&four, "4444444"), Outcome::Green);
    assert_eq!(j.read("active"), "bot-4");
    let reads = j.sim.counter("storage.objects.get");
    assert_eq!(j.ci.deploy(&j.sim, &two, "2222222", true), Outcome::Green);
    assert_eq!(
        j.sim.counter("storage.objects.get"),
        reads,
        "nothing fetched"
    );
    assert_eq!(
        j.state(),
        ("bot-2".into(), "bot-2".into(), Some("2222222".into()))
    );

    // Fetch fails: CI named a system it never uploaded.
    let missing = j.build("bot-5", true);
    let reason = red(j.deploy(&missing, "5555555"));
    assert_eq!(
        reason,
        "rolled back: fetching the system failed (the binary cache has no such system; did CI upload it?)"
    );
    assert!(!j.on_vm(&missing));

    // Fetch fails: the VM's service account lost its read access to the bucket.
    let six = j.build("bot-6", true);
    j.ci.publish(&j.sim, &six);
    vm_reads(&j.sim, &j.owner, &j.target, false);
    let reason = red(j.deploy(&six, "6666666"));
    assert!(
        reason.starts_with(
            "rolled back: fetching the system failed (the VM may not read the binary cache: "
        ) && reason.contains(&format!(
            "{} does not have storage.objects.get access",
            j.target.vm_account()
        )),
        "{reason}"
    );
    assert!(!j.on_vm(&six));
    vm_reads(&j.sim, &j.owner, &j.target, true);

    // Fetch fails: a system signed with another key is refused by Nix itself.
    let stranger = Ci::new(&j.sim, &j.target, REPOSITORY);
    let forged = stranger.build(
        "nixos-system-bot-7-forged",
        &system_script(&j.root, "bot-7-forged", true),
    );
    stranger.publish(&j.sim, &forged);
    let reason = red(j.deploy(&forged, "7777777"));
    assert!(
        reason.starts_with("rolled back: fetching the system failed (exit status"),
        "{reason}"
    );
    assert!(
        !j.on_vm(&forged),
        "an unsigned system never reaches the store"
    );

    // After all that, the VM still runs and boots the last good system.
    assert_eq!(
        j.state(),
        ("bot-2".into(), "bot-2".into(), Some("2222222".into()))
    );
    // And the same system, named again by a new CI run once access is back.
    assert_eq!(j.deploy(&six, "6666aaa"), Outcome::Green);
    assert_eq!(j.read("active"), "bot-6");

    // The substituter's log says why it could not serve, and no log carries a token.
    let log = j.root.log_text();
    assert!(
        log.contains("clawfree-agent cache: ")
            && log.contains(".narinfo: Cloud Storage answered 403: "),
        "{log}"
    );
    assert!(!log.contains("ya29.") && !log.contains(TOKEN), "{log}");
}
