//! GitHub mode's rollouts as the bot list shows them, and its Roll back button.
//!
//! The VM reports through guest attributes: `openclaw/rollout` (`<rev> <state>`),
//! `openclaw/system` (the revision it runs) and `openclaw/previous-system` (the last good
//! system before it). [`view`] turns them into what the page shows; [`rollback`] points
//! the VM back at that previous system by writing `openclaw-system` with
//! `rollback: true`. The agent accepts a roll back only to a system already on the VM,
//! so the Worker offers it only when the VM names one, and never while a rollout runs.

use crate::app::App;
use crate::bots::api::Caller;
use crate::error::ApiError;
use crate::google::compute::{GuestAttributes, InstanceRef};
use crate::http::Response;
use crate::limits;
use crate::ports::Platform;
use crate::sessions::Session;
use crate::vm::secrets;
use claw_free_protocol::rollout::{
    RolloutReport, RolloutState, SystemRef, GUEST_PREVIOUS, GUEST_ROLLOUT, GUEST_SYSTEM,
    METADATA_KEY,
};
use serde::Serialize;
use serde_json::json;

/// A bot's rollouts, for the bot list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// The revision of the latest rollout (none when its metadata was too malformed
    /// to name one).
    pub rev: Option<String>,
    /// `fetching`, `switching`, `checking`, `done`, `rolled-back` or `refused`.
    pub state: &'static str,
    /// Why it was rolled back or refused, for a person to read.
    pub reason: Option<String>,
    pub in_progress: bool,
    /// The revision the VM runs and boots.
    pub running: Option<String>,
    /// The revision a Roll back returns to.
    pub previous: Option<String>,
    pub can_roll_back: bool,
}

/// The rollout view of a bot's guest attributes; `None` for a bot that never had one
/// (local mode).
pub fn view(attributes: &GuestAttributes) -> Option<Rollout> {
    let report = attributes.get(GUEST_ROLLOUT).and_then(RolloutReport::parse);
    let running = attributes
        .get(GUEST_SYSTEM)
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    let previous = previous(attributes);
    if report.is_none() && running.is_none() && previous.is_none() {
        return None;
    }
    let (state, reason) = match report.as_ref().map(|r| &r.state) {
        None => ("done", None),
        Some(RolloutState::Fetching) => ("fetching", None),
        Some(RolloutState::Switching) => ("switching", None),
        Some(RolloutState::Checking) => ("checking", None),
        Some(RolloutState::Done) => ("done", None),
        Some(RolloutState::RolledBack(why)) => ("rolled-back", Some(why.clone())),
        Some(RolloutState::Refused(why)) => ("refused", Some(why.clone())),
    };
    let in_progress = report.as_ref().is_some_and(|r| !r.state.is_final());
    Some(Rollout {
        rev: report.and_then(|r| r.rev).map(|r| r.as_str().to_string()),
        state,
        reason,
        in_progress,
        running,
        can_roll_back: previous.is_some() && !in_progress,
        previous: previous.map(|p| p.rev.as_str().to_string()),
    })
}

/// The system a roll back returns to, if the VM names a valid one.
fn previous(attributes: &GuestAttributes) -> Option<SystemRef> {
    attributes
        .get(GUEST_PREVIOUS)
        .and_then(|v| SystemRef::parse(v).ok())
}

/// `POST /api/bots/:project/:zone/:vm/rollback`: `{ok, rev}`, the revision the VM was
/// pointed back at; it reports the outcome in `openclaw/rollout`.
pub async fn rollback_route<P: Platform>(
    app: &App<'_, P>,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let system = rollback(app, &caller.session, &caller.target).await?;
    Ok(Response::json(
        200,
        &json!({ "ok": true, "rev": system.rev.as_str() }),
    ))
}

/// Points a running bot's VM at its previous system; 409 when there is none or a
/// rollout is under way.
pub async fn rollback<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    target: &InstanceRef,
) -> Result<SystemRef, ApiError> {
    limits::take_bot_action(app, session.limit_subject()).await?;
    let vm = secrets::bot_instance(app, &session.token, target).await?;
    if !vm.is_running() {
        return Err(ApiError::Conflict(
            "The VM is not running. Start it, wait a minute for it to boot, then roll back.".into(),
        ));
    }
    let attributes = app
        .google(&session.token)
        .compute()
        .guest_attributes(target)
        .await
        .map_err(|failure| failure.into_api_error(app.config, Some(target.project.as_str())))?;
    let current = view(&attributes);
    if let Some(rollout) = current.as_ref().filter(|r| r.in_progress) {
        return Err(ApiError::Conflict(format!(
            "A rollout is under way ({}). Wait until it ends, then roll back if you still need to.",
            rollout.state
        )));
    }
    let mut system = previous(&attributes).ok_or_else(|| {
        ApiError::Conflict("This bot has no earlier system on its VM to roll back to.".into())
    })?;
    system.rollback = true;
    let value = system.to_json();
    secrets::write_metadata(app, &session.token, target, vm, |metadata| {
        Ok(secrets::with_item(metadata, METADATA_KEY, &value))
    })
    .await?;
    Ok(system)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-nixos-system-bot-25.11";

    fn attributes(pairs: &[(&str, &str)]) -> GuestAttributes {
        GuestAttributes::from_pairs(pairs)
    }

    fn previous_value() -> String {
        format!(r#"{{"path":"{PATH}","rev":"1111111"}}"#)
    }

    #[test]
    fn a_local_mode_bot_has_no_rollouts() {
        assert_eq!(view(&attributes(&[("setup", "ready")])), None);
    }

    #[test]
    fn a_rolled_back_rollout_says_why_and_offers_nothing_it_cannot_do() {
        let prev = previous_value();
        let v = view(&attributes(&[
            (
                "rollout",
                "2222222 rolled-back:openclaw-gateway.service is failed",
            ),
            ("system", "1111111"),
            ("previous-system", &prev),
        ]))
        .unwrap();
        assert_eq!(v.state, "rolled-back");
        assert_eq!(v.rev.as_deref(), Some("2222222"));
        assert_eq!(
            v.reason.as_deref(),
            Some("openclaw-gateway.service is failed")
        );
        assert_eq!(v.running.as_deref(), Some("1111111"));
        assert_eq!(v.previous.as_deref(), Some("1111111"));
        assert!(v.can_roll_back && !v.in_progress);

        let switching = view(&attributes(&[
            ("rollout", "3333333 switching"),
            ("previous-system", &prev),
        ]))
        .unwrap();
        assert!(switching.in_progress && !switching.can_roll_back);

        // A previous system the VM names badly is no previous system.
        let bad = view(&attributes(&[
            ("rollout", "3333333 done"),
            (
                "previous-system",
                r#"{"path":"/etc/passwd","rev":"1111111"}"#,
            ),
        ]))
        .unwrap();
        assert!(!bad.can_roll_back && bad.previous.is_none());
    }
}

#[cfg(test)]
mod route_tests {
    use crate::http::Method;
    use crate::testing::fake_google::FakeVm;
    use crate::testing::TestApp as Harness;
    use serde_json::json;

    const KEY: &str = "claw-demo/us-central1-a/my-bot-010203";
    const ROLLBACK: &str = "/api/bots/claw-demo/us-central1-a/my-bot-010203/rollback";
    const PATH: &str = "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-nixos-system-bot-25.11";

    fn linked_bot(h: &Harness, rollout: &str, previous: bool) {
        let mut vm = FakeVm::bot("RUNNING");
        vm.guest.insert("setup".into(), "ready".into());
        vm.guest.insert("rollout".into(), rollout.into());
        vm.guest.insert("system".into(), "2222222".into());
        if previous {
            vm.guest.insert(
                "previous-system".into(),
                format!(r#"{{"path":"{PATH}","rev":"1111111"}}"#),
            );
        }
        h.google.borrow_mut().vms.insert(KEY.into(), vm);
    }

    fn system_item(h: &Harness) -> Option<String> {
        h.vm(KEY)
            .metadata
            .iter()
            .find(|(k, _)| k == "openclaw-system")
            .map(|(_, v)| v.clone())
    }

    #[test]
    fn roll_back_points_the_vm_at_its_previous_system() {
        let h = Harness::new();
        linked_bot(&h, "2222222 done", true);
        let (status, body) = h.call(Method::Get, "/api/deploy/existing", None);
        assert_eq!(status, 200, "{body}");
        let rollout = &body["vms"][0]["rollout"];
        assert_eq!(rollout["state"], "done");
        assert_eq!(rollout["running"], "2222222");
        assert_eq!(rollout["previous"], "1111111");
        assert_eq!(rollout["canRollBack"], true);

        let (status, body) = h.call(Method::Post, ROLLBACK, None);
        assert_eq!(
            (status, &body),
            (200, &json!({"ok": true, "rev": "1111111"}))
        );
        let written = system_item(&h).expect("openclaw-system written");
        let system = claw_free_protocol::rollout::SystemRef::parse(&written).unwrap();
        assert!(system.rollback);
        assert_eq!(system.path.as_str(), PATH);
        // Everything else in the metadata is kept.
        assert!(h
            .vm(KEY)
            .metadata
            .iter()
            .any(|(k, v)| k == "BOT_NAME" && v == "My Bot"));
    }

    #[test]
    fn roll_back_is_refused_without_a_previous_system_or_during_a_rollout() {
        let h = Harness::new();
        linked_bot(&h, "2222222 done", false);
        let (status, body) = h.call(Method::Post, ROLLBACK, None);
        assert_eq!(status, 409, "{body}");
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("no earlier system"));

        linked_bot(&h, "3333333 checking", true);
        let (status, body) = h.call(Method::Post, ROLLBACK, None);
        assert_eq!(status, 409, "{body}");
        assert!(body["error"].as_str().unwrap().contains("under way"));

        linked_bot(&h, "3333333 done", true);
        h.google.borrow_mut().vms.get_mut(KEY).unwrap().status = "TERMINATED".into();
        assert_eq!(h.status(Method::Post, ROLLBACK), 409);
        assert_eq!(system_item(&h), None, "nothing was written");
    }

    #[test]
    fn roll_back_checks_the_owner_and_refuses_cross_site_requests() {
        let h = Harness::new();
        linked_bot(&h, "2222222 done", true);
        let elsewhere = "/api/bots/someone-else/us-central1-a/my-bot-010203/rollback";
        assert_eq!(h.status(Method::Post, elsewhere), 404);
        let mut foreign = FakeVm::bot("RUNNING");
        foreign.labels.clear();
        h.google
            .borrow_mut()
            .vms
            .insert("claw-demo/us-central1-a/web-server".into(), foreign);
        let foreign = "/api/bots/claw-demo/us-central1-a/web-server/rollback";
        assert_eq!(h.status(Method::Post, foreign), 404);
        let cross_site = h.from_origin(Method::Post, ROLLBACK, Some("https://evil.example"));
        assert_eq!(cross_site.status, 403);
        let signed_out = h.send(h.request(Method::Post, ROLLBACK, None, None));
        assert_eq!(signed_out.status, 401);
        assert_eq!(h.status(Method::Get, ROLLBACK), 405);
        assert_eq!(system_item(&h), None);
    }
}
