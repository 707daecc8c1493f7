//! The deploy state machine, pure: which Google call the current phase needs next
//! ([`next_call`]) and how its answer moves the record ([`apply`]). The driver in
//! [`super::flow`] makes the calls; nothing here does I/O, so every transition is
//! tested from recorded Google answers.

use super::model::{DeployRecord, EnableStep, Phase};
use crate::config::Config;
use crate::error::Action;
use crate::google::compute::{GuestAttributes, Instance, Operation};
use crate::google::serviceusage::Operation as EnableOperation;
use crate::google::GoogleFailure;
use claw_free_protocol::guest::SetupState;
use claw_free_protocol::{labels, metadata};

/// How long Compute may keep saying "disabled" after Service Usage enabled it.
pub const ENABLE_PROPAGATION_SECS: u64 = 600;

/// A Google call the machine asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// Service Usage `services.enable` for Compute.
    Enable,
    /// Service Usage `operations.get`.
    EnableOperation(String),
    /// Compute `instances.insert` at the record's zone and name.
    Insert,
    /// Compute `instances.get` to see whose VM holds the name an insert found taken.
    InspectName,
    /// Compute `zoneOperations.get`.
    ZoneOperation(String),
    /// Compute `instances.get`.
    Instance,
    /// Compute `instances.getGuestAttributes?queryPath=openclaw/`.
    GuestAttributes,
}

/// Google's answer to a [`Call`].
#[derive(Debug, Clone)]
pub enum Outcome {
    Enable(Result<EnableOperation, GoogleFailure>),
    EnableOperation(Result<EnableOperation, GoogleFailure>),
    Insert(Result<Operation, GoogleFailure>),
    InspectName(Result<Instance, GoogleFailure>),
    ZoneOperation(Result<Operation, GoogleFailure>),
    Instance(Result<Instance, GoogleFailure>),
    GuestAttributes(Result<GuestAttributes, GoogleFailure>),
}

/// What the machine needs besides the record and the answer.
pub struct Context<'a> {
    pub config: &'a Config,
    /// Unix seconds.
    pub now: u64,
    /// Random bytes for a new VM-name suffix, should the name be taken.
    pub fresh_suffix: [u8; 3],
}

/// Whether an answer could be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The record reflects the answer (it may be unchanged).
    Yes,
    /// Google failed transiently: the record is untouched; try again next poll.
    Transient,
}

/// The call the record's phase needs next; `None` when it is finished.
pub fn next_call(record: &DeployRecord) -> Option<Call> {
    Some(match &record.phase {
        Phase::Enabling { step } => match step {
            EnableStep::Request => Call::Enable,
            EnableStep::Operation(name) => Call::EnableOperation(name.clone()),
            EnableStep::Propagating => Call::Insert,
        },
        Phase::Inserting => Call::Insert,
        Phase::CheckingName => Call::InspectName,
        // The instance exists from the moment Google accepts the insert, and its
        // status says more than the operation's: the operation is asked only when
        // the instance is missing.
        Phase::Creating { .. } => Call::Instance,
        Phase::CheckingOperation { operation } => Call::ZoneOperation(operation.clone()),
        Phase::Booting if record.running_since.is_none() => Call::Instance,
        Phase::Booting | Phase::Configuring { .. } | Phase::Starting => Call::GuestAttributes,
        Phase::Done | Phase::Failed { .. } => return None,
    })
}

/// Whether a start that just made `previous` should go on with `next`. An insert or
/// an enable Google accepted a moment ago is not done yet: the next poll looks.
pub fn worth_following(previous: &Call, next: &Call) -> bool {
    !matches!(
        (previous, next),
        (Call::Insert, Call::Instance) | (Call::Enable, Call::EnableOperation(_))
    )
}

/// Moves `record` on by Google's answer.
pub fn apply(record: &mut DeployRecord, outcome: Outcome, ctx: &Context<'_>) -> Applied {
    let failure = match outcome {
        Outcome::Enable(Ok(op)) | Outcome::EnableOperation(Ok(op)) => {
            enabled(record, op, ctx);
            None
        }
        Outcome::Insert(Ok(op)) => {
            match (op.is_done(), op.error.as_ref()) {
                (true, Some(error)) => {
                    creation_failed(record, GoogleFailure::from_operation(error), ctx)
                }
                _ => record.enter(Phase::Creating { operation: op.name }, ctx.now),
            }
            None
        }
        Outcome::Insert(Err(GoogleFailure::ServiceDisabled { activation_url })) => {
            not_enabled_yet(record, activation_url, ctx);
            None
        }
        Outcome::Insert(Err(failure)) => match failure {
            GoogleFailure::Transient(_) => Some(failure),
            other => {
                creation_failed(record, other, ctx);
                None
            }
        },
        Outcome::InspectName(Ok(instance)) => {
            if is_this_deploys_vm(record, &instance) {
                record.enter(Phase::Booting, ctx.now);
                observe_instance(record, &instance, ctx);
            } else {
                record.vm_name = record.bot_name.vm_name(ctx.fresh_suffix);
                record.enter(Phase::Inserting, ctx.now);
            }
            None
        }
        Outcome::InspectName(Err(GoogleFailure::NotFound(_))) => {
            // The name is free again: insert it.
            record.enter(Phase::Inserting, ctx.now);
            None
        }
        Outcome::ZoneOperation(Ok(op)) => {
            match (op.is_done(), op.error.as_ref()) {
                (false, _) => {}
                (true, Some(error)) => {
                    creation_failed(record, GoogleFailure::from_operation(error), ctx)
                }
                (true, None) => record.enter(Phase::Booting, ctx.now),
            }
            None
        }
        Outcome::Instance(Ok(instance)) => {
            observe_instance(record, &instance, ctx);
            None
        }
        Outcome::Instance(Err(GoogleFailure::NotFound(_)))
            if matches!(record.phase, Phase::Creating { .. }) =>
        {
            if let Phase::Creating { operation } = &record.phase {
                let operation = operation.clone();
                record.enter(Phase::CheckingOperation { operation }, ctx.now);
            }
            None
        }
        Outcome::Instance(Err(GoogleFailure::NotFound(_))) => {
            fail(
                record,
                "The VM was deleted before it was ready. Deploy again to create a new one.",
                None,
                false,
                ctx,
            );
            None
        }
        Outcome::GuestAttributes(Ok(attributes)) => {
            observe_guest(record, &attributes, ctx);
            None
        }
        Outcome::Enable(Err(f))
        | Outcome::EnableOperation(Err(f))
        | Outcome::InspectName(Err(f))
        | Outcome::ZoneOperation(Err(f))
        | Outcome::Instance(Err(f))
        | Outcome::GuestAttributes(Err(f)) => Some(f),
    };
    match failure {
        Some(failure) if failure.is_transient() => Applied::Transient,
        Some(failure) => {
            let logs = record.running_since.is_some();
            fail_with(record, failure, logs, ctx);
            Applied::Yes
        }
        None => Applied::Yes,
    }
}

fn enabled(record: &mut DeployRecord, op: EnableOperation, ctx: &Context<'_>) {
    match (op.done, op.error) {
        (true, Some(error)) => {
            let project = record.project.to_string();
            fail(
                record,
                &format!(
                    "Google could not turn on the Compute Engine API in this project: {} Check that billing is enabled, then deploy again.",
                    crate::google::sanitize(&error.message)
                ),
                Some(Action {
                    label: "Enable the Compute Engine API".into(),
                    url: format!(
                        "{}/apis/library/compute.googleapis.com?project={}",
                        ctx.config.endpoints.console_url,
                        crate::http::encode(&project)
                    ),
                }),
                false,
                ctx,
            );
        }
        (true, None) => record.enter(
            Phase::Enabling {
                step: EnableStep::Propagating,
            },
            ctx.now,
        ),
        (false, _) => record.enter(
            Phase::Enabling {
                step: EnableStep::Operation(op.name),
            },
            ctx.now,
        ),
    }
}

/// The insert found Compute disabled: ask Service Usage to turn it on, or, when that
/// is done already, wait for the change to reach Compute (for a while).
fn not_enabled_yet(record: &mut DeployRecord, activation_url: Option<String>, ctx: &Context<'_>) {
    let propagating = matches!(
        record.phase,
        Phase::Enabling {
            step: EnableStep::Propagating
        }
    );
    if !propagating {
        record.enter(
            Phase::Enabling {
                step: EnableStep::Request,
            },
            ctx.now,
        );
    } else if ctx.now.saturating_sub(record.phase_since) > ENABLE_PROPAGATION_SECS {
        fail_with(
            record,
            GoogleFailure::ServiceDisabled { activation_url },
            false,
            ctx,
        );
    }
}

/// An insert (or its operation) failed: another zone when this one has no capacity,
/// a check of the name when it is taken, else the end of the deploy.
fn creation_failed(record: &mut DeployRecord, failure: GoogleFailure, ctx: &Context<'_>) {
    match failure {
        GoogleFailure::ZoneExhausted => match record.region.next_zone(&record.zone) {
            Some(zone) => {
                record.zone = zone;
                record.enter(Phase::Inserting, ctx.now);
                record.phase_since = ctx.now;
            }
            None => fail_with(record, GoogleFailure::ZoneExhausted, false, ctx),
        },
        GoogleFailure::AlreadyExists => record.enter(Phase::CheckingName, ctx.now),
        other => fail_with(record, other, false, ctx),
    }
}

/// Whether the VM holding the record's name was created by this deploy (an earlier
/// insert whose answer was lost), rather than being someone else's.
fn is_this_deploys_vm(record: &DeployRecord, instance: &Instance) -> bool {
    let label = |key: &str| instance.labels.get(key).map(String::as_str);
    let bot_name = instance
        .metadata
        .items
        .iter()
        .find(|item| item.key == metadata::BOT_NAME)
        .map(|item| item.value.as_str());
    let created = unix_from_rfc3339(&instance.creation_timestamp);
    label(labels::MANAGED) == Some(labels::MANAGED_VALUE)
        && label(labels::BOT) == Some(record.bot_name.slug())
        && bot_name == Some(record.bot_name.display())
        && created.is_some_and(|at| at + CLOCK_SKEW_SECS >= record.created_at)
}

/// Clock difference tolerated between Google's timestamps and ours.
const CLOCK_SKEW_SECS: u64 = 120;

fn observe_instance(record: &mut DeployRecord, instance: &Instance, ctx: &Context<'_>) {
    match instance.status.as_str() {
        "RUNNING" => {
            // Its address and start are kept once, when it runs: one write for both.
            if let Some(ip) = instance.external_ip() {
                record.ip = Some(ip);
            }
            record.running_since.get_or_insert(ctx.now);
            if matches!(
                record.phase,
                Phase::Creating { .. } | Phase::CheckingOperation { .. }
            ) {
                record.enter(Phase::Booting, ctx.now);
            }
        }
        "STOPPING" | "STOPPED" | "TERMINATED" | "SUSPENDING" | "SUSPENDED" => fail(
            record,
            "The VM stopped before it was ready. Its serial output may say why; start it again from the Google Cloud console or delete it and deploy again.",
            None,
            true,
            ctx,
        ),
        // PROVISIONING, STAGING, REPAIRING: still on its way.
        _ => {}
    }
}

fn observe_guest(record: &mut DeployRecord, attributes: &GuestAttributes, ctx: &Context<'_>) {
    record.secret_error = attributes
        .secret_error()
        .filter(|e| record.secret_version.is_none_or(|v| e.version >= v))
        .map(|e| {
            format!(
                "The VM could not read the Telegram token it received ({}). Send it again.",
                e.reason
            )
        });
    match attributes.setup() {
        Some(SetupState::Ready) => record.enter(Phase::Done, ctx.now),
        Some(SetupState::Failed(reason)) => fail(
            record,
            &format!("The VM's setup failed: {reason}. Its serial output has the details."),
            None,
            true,
            ctx,
        ),
        // A token already sent is on its way until the agent reads its metadata.
        Some(SetupState::WaitingSecret) => record.enter(
            Phase::Configuring {
                waiting_for_secret: record.secret_version.is_none(),
            },
            ctx.now,
        ),
        Some(SetupState::Configuring) => record.enter(
            Phase::Configuring {
                waiting_for_secret: false,
            },
            ctx.now,
        ),
        Some(SetupState::Starting) => record.enter(Phase::Starting, ctx.now),
        // Nothing published yet: the agent has not started.
        None => {}
    }
    let timeout = ctx.config.limits.ready_timeout_secs;
    let overdue = record
        .running_since
        .is_some_and(|since| ctx.now.saturating_sub(since) > timeout);
    if overdue && !record.phase.is_finished() {
        fail(
            record,
            &format!(
                "The bot was not ready {} after its VM started. Its serial output may say why; you can also delete the VM and deploy again.",
                minutes(timeout)
            ),
            None,
            true,
            ctx,
        );
    }
}

/// "5 minutes", "1 minute" or "45 seconds".
fn minutes(secs: u64) -> String {
    match (secs / 60, secs % 60) {
        (1, 0) => "1 minute".into(),
        (n, 0) if n > 1 => format!("{n} minutes"),
        _ => format!("{secs} seconds"),
    }
}

fn fail(
    record: &mut DeployRecord,
    message: &str,
    action: Option<Action>,
    logs: bool,
    ctx: &Context<'_>,
) {
    record.enter(
        Phase::Failed {
            message: message.to_string(),
            action,
            logs,
        },
        ctx.now,
    );
}

fn fail_with(record: &mut DeployRecord, failure: GoogleFailure, logs: bool, ctx: &Context<'_>) {
    let (_, message, action) = failure.explain(ctx.config, Some(record.project.as_str()));
    fail(record, &message, action, logs, ctx);
}

/// Unix seconds of an RFC 3339 timestamp as Google writes them
/// (`2026-11-25T11:02:25.123-08:00`, or with `Z`).
fn unix_from_rfc3339(value: &str) -> Option<u64> {
    let (date, rest) = value.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let time_end = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(time_end);
    let mut t = time.split(':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let second: i64 = t.next()?.split('.').next()?.parse().ok()?;
    let offset = match zone {
        "" | "Z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests;
