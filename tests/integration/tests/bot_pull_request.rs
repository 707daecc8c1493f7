//! The bot's own pull requests in GitHub mode, end to end on real parts where they can
//! run here: the skill's real `clawfree propose` hands the proposal over a Unix socket
//! to the real agent's `serve-propose` (as systemd's socket activation would, one
//! process per connection), which with the real curl on a simulated VM asks its metadata server for a Google identity token (signed by the
//! simulator as Google), the Worker under wrangler dev verifies it against the
//! simulator's published keys and mints an installation token from the simulated
//! GitHub App, and the agent opens a pull request that the simulated GitHub holds.
//! Refused: a VM the repository does not name, a change to `.github/workflows/`, and
//! a direct write to the protected `main` with the token the VM was given.

use claw_free_it::{Client, Reply, Stack, StackOptions};
use serde_json::{json, Value};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};

const OWNER: &str = "ada-lovelace";
const REPO: &str = "my-bot";
const PROJECT: &str = "claw-demo";
const ZONE: &str = "us-central1-a";
const VM: &str = "my-bot-010203";
const VM_ACCOUNT: &str = "claw-free-vm@claw-demo.iam.gserviceaccount.com";

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// The stack in GitHub mode (the development App), with Google's keys at the simulator.
fn stack() -> Stack {
    Stack::start(StackOptions {
        github: true,
        ..StackOptions::default()
    })
}

/// A simulated VM with a service account (identity tokens need one); its instance id.
fn vm(stack: &Stack, name: &str) -> String {
    let made = stack.admin(
        "vms",
        json!({"project": PROJECT, "zone": ZONE, "instance": name,
               "serviceAccounts": [{"email": VM_ACCOUNT,
                                    "scopes": ["https://www.googleapis.com/auth/devstorage.read_only"]}]}),
    );
    made["id"].as_str().expect("the VM's id").to_string()
}

/// The owner's repository with the App installed on it, `claw-free.json` on `main`
/// naming the VM `instance_id`, and `main` protected.
fn repository(stack: &Stack, instance_id: &str) {
    stack.admin("github/repos", json!({"name": REPO, "private": true}));
    stack.admin("github/install-choice", json!({"repositories": [REPO]}));
    // github.com's install page installs at once for the signed-in account.
    let page = Client::new(&stack.sim).get("/apps/claw-free-local/installations/new?state=s");
    assert_eq!(page.status, 302, "{}", page.text);
    let config = json!({
        "repository": format!("{OWNER}/{REPO}"),
        "bucket": "claw-cache-claw-demo",
        "cachePublicKey": "claw-cache-claw-demo-1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
        "bot": {"project": PROJECT, "zone": ZONE, "instance": VM, "instanceId": instance_id},
    });
    for (path, content) in [
        ("claw-free.json", format!("{config:#}\n")),
        (
            "bot.nix",
            "{ openclaw.bot.name = \"Ada's bot\"; }\n".to_string(),
        ),
        (".github/workflows/deploy.yml", "on: push\n".to_string()),
    ] {
        stack.admin(
            &format!("github/repos/{OWNER}/{REPO}/files"),
            json!({"path": path, "content": b64(content.as_bytes())}),
        );
    }
    stack.admin(
        &format!("github/repos/{OWNER}/{REPO}/protect"),
        json!({"branch": "main"}),
    );
}

/// The agent's flags for VM `name`, as its NixOS module renders them.
fn agent_flags(stack: &Stack, name: &str) -> Vec<String> {
    [
        "--metadata-url",
        &format!("{}/_vm/{PROJECT}/{ZONE}/{name}", stack.sim),
        "--worker-url",
        &stack.site,
        "--github-api",
        &stack.sim,
        "--github-repository",
        &format!("{OWNER}/{REPO}"),
        "--curl",
        "curl",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn outcome(output: std::process::Output) -> (bool, String, String) {
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs the real agent's `propose` as root on VM `name` would.
fn propose(
    stack: &Stack,
    name: &str,
    title: &str,
    files: &[(&str, &Path)],
) -> (bool, String, String) {
    let agent = claw_free_testkit::workspace_binary("claw-free-agent", "clawfree-agent");
    let mut command = Command::new(agent);
    command
        .args(["propose", "--title", title])
        .args(agent_flags(stack, name));
    for (path, local) in files {
        command.arg(format!("{path}={}", local.display()));
    }
    outcome(command.output().expect("the agent runs"))
}

/// The skill's `clawfree propose` as the bot runs it, through the socket of the
/// agent's `serve-propose` (one connection served, as systemd's `Accept=yes` does).
fn propose_through_skill(stack: &Stack, dir: &Path, args: &[String]) -> (bool, String, String) {
    let socket = dir.join("propose.sock");
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).unwrap();
    let flags = agent_flags(stack, VM);
    let agent = claw_free_testkit::workspace_binary("claw-free-agent", "clawfree-agent");
    let server = std::thread::spawn(move || {
        let (connection, _) = listener.accept().unwrap();
        let stdin = OwnedFd::from(connection.try_clone().unwrap());
        Command::new(agent)
            .arg("serve-propose")
            .args(&flags)
            .stdin(Stdio::from(stdin))
            .stdout(Stdio::from(OwnedFd::from(connection)))
            .status()
            .unwrap()
    });
    let skill = claw_free_testkit::workspace_binary("claw-free-provider", "clawfree");
    let output = Command::new(skill)
        .arg("--propose-socket")
        .arg(&socket)
        .arg("propose")
        .args(args)
        .output()
        .unwrap();
    assert!(server.join().unwrap().success());
    outcome(output)
}

fn pulls(stack: &Stack) -> Value {
    stack.admin_get(&format!("github/repos/{OWNER}/{REPO}/pulls"))
}

fn local_file(dir: &Path, name: &str, content: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn the_named_vm_proposes_a_change_and_others_are_refused() {
    let stack = stack();
    let id = vm(&stack, VM);
    repository(&stack, &id);
    let dir = stack.state_dir.join("proposal");
    std::fs::create_dir_all(&dir).unwrap();
    let new_bot = "{ openclaw.bot.name = \"Ada's better bot\"; }\n";
    let bot_nix = local_file(&dir, "bot.nix", new_bot);
    let notes = local_file(&dir, "notes.md", "Why: a nicer name.\n");

    // The VM the repository names: the bot's `clawfree propose` gets a pull request
    // with both files, main untouched.
    let body = local_file(&dir, "body.md", "A nicer name, as Ada asked.\n");
    let (ok, out, err) = propose_through_skill(
        &stack,
        &dir,
        &[
            "--title".into(),
            "Rename the bot".into(),
            "--body-file".into(),
            body.display().to_string(),
            format!("bot.nix={}", bot_nix.display()),
            format!("docs/notes.md={}", notes.display()),
        ],
    );
    assert!(ok, "stdout: {out}\nstderr: {err}");
    let url = out
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_default();
    assert!(
        url.starts_with(&format!("https://github.com/{OWNER}/{REPO}/pull/")),
        "{url}"
    );
    let held = pulls(&stack);
    let pull = &held["pulls"][0];
    assert_eq!(pull["title"], "Rename the bot");
    assert_eq!(pull["body"], "A nicer name, as Ada asked.\n");
    assert_eq!(pull["base"], "main");
    assert!(pull["head"]
        .as_str()
        .unwrap()
        .starts_with("claw-free/rename-the-bot-"));
    assert_eq!(
        unb64(pull["files"]["bot.nix"].as_str().unwrap()),
        new_bot.as_bytes()
    );
    assert!(pull["files"]["docs/notes.md"].is_string());
    assert_eq!(pull["files"].as_object().unwrap().len(), 2);
    let repo = stack.admin_get(&format!("github/repos/{OWNER}/{REPO}"));
    assert_ne!(
        unb64(repo["files"]["bot.nix"].as_str().unwrap()),
        new_bot.as_bytes(),
        "main itself is unchanged"
    );

    // A change to what CI runs: GitHub refuses the token (no `workflows`), no PR.
    let workflow = local_file(&dir, "deploy.yml", "on: push\njobs: {}\n");
    let (ok, out, err) = propose(
        &stack,
        VM,
        "Change CI",
        &[(".github/workflows/deploy.yml", &workflow)],
    );
    assert!(!ok, "{out}");
    assert!(
        err.contains("may never change the repository's workflows"),
        "{err}"
    );
    let after = pulls(&stack);
    assert_eq!(after["pulls"].as_array().unwrap().len(), 1);
    // The refused proposal's branch was deleted again.
    assert_eq!(after["branches"], json!([pull["head"]]), "{after}\n{err}");

    // Another VM of the same project: the repository does not name it.
    vm(&stack, "other-bot-040506");
    let (ok, out, err) = propose(
        &stack,
        "other-bot-040506",
        "Sneak",
        &[("bot.nix", &bot_nix)],
    );
    assert!(!ok, "{out}");
    assert!(
        err.contains("HTTP 403") && err.contains("does not name this VM"),
        "{err}"
    );
    assert_eq!(pulls(&stack)["pulls"].as_array().unwrap().len(), 1);

    // Neither the identity token nor the GitHub token was printed, or kept by the Worker.
    assert!(!out.contains("ghs_") && !err.contains("ghs_") && !err.contains("eyJ"));
    assert!(!stack.kv_contents().contains("ghs_"));
    let counters = stack.counters();
    assert_eq!(counters.get("github.pulls.create").copied(), Some(1));
}

/// The VM's identity token for `audience`, from the simulated metadata server.
fn identity_token(stack: &Stack, audience: &str) -> String {
    Client::new(&stack.sim)
        .send(
            "GET",
            &format!(
                "/_vm/{PROJECT}/{ZONE}/{VM}/computeMetadata/v1/instance/service-accounts/default/identity?audience={audience}&format=full"
            ),
            None,
            &[("Metadata-Flavor", "Google")],
        )
        .text
}

/// The Worker's answer to a VM asking, with `identity`, for a token to `OWNER/repo`.
fn github_token(stack: &Stack, identity: &str, repo: &str) -> Reply {
    stack.client().send(
        "POST",
        "/api/vm/github-token",
        Some(json!({"repository": format!("{OWNER}/{repo}")})),
        &[("Authorization", &format!("Bearer {identity}"))],
    )
}

#[test]
fn the_vms_token_cannot_push_to_main_nor_reach_another_repository() {
    let stack = stack();
    let id = vm(&stack, VM);
    repository(&stack, &id);
    // The token as the Worker answers it, asked for the way the agent does.
    let identity = identity_token(&stack, &stack.site);
    let granted = github_token(&stack, &identity, REPO);
    assert_eq!(granted.status, 200, "{}", granted.text);
    let token = granted.json["token"].as_str().unwrap().to_string();
    let github = Client::new(&stack.sim);
    let auth = format!("Bearer {token}");
    let put = github.send(
        "PUT",
        &format!("/repos/{OWNER}/{REPO}/contents/bot.nix"),
        Some(json!({"message": "direct", "content": b64(b"{ }\n"), "sha": "x"})),
        &[("Authorization", &auth)],
    );
    assert_eq!(put.status, 409, "{}", put.text);
    assert_eq!(
        put.json["message"],
        "Changes must be made through a pull request."
    );
    // The identity token is for this site only: sent to claw.free by way of another
    // audience, it is refused.
    let elsewhere = identity_token(&stack, "https://evil.test");
    let refused = github_token(&stack, &elsewhere, REPO);
    assert_eq!(refused.status, 401, "{}", refused.text);
    // A repository the App is not installed on.
    stack.admin("github/repos", json!({"name": "elsewhere"}));
    let missing = github_token(&stack, &identity, "elsewhere");
    assert_eq!(missing.status, 404, "{}", missing.text);
}
