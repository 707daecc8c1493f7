//! How instances move through their states over time: the transitions each handler
//! schedules, applied when they fall due.

use super::*;

/// Something the VM layer must do after the world moved on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The instance reached RUNNING: boot its OS (and agent).
    Boot(VmKey, u64),
    /// The instance is gone: remove its disk.
    Destroyed(VmKey),
}

/// Applies every scheduled transition that is due at `now`.
pub fn advance(world: &mut World, now: u64) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut gone = Vec::new();
    for inst in world.instances.values_mut() {
        while let Some(&(at, transition)) = inst.schedule.first() {
            if at > now {
                break;
            }
            inst.schedule.remove(0);
            match transition {
                Transition::Gone => gone.push(inst.key.clone()),
                Transition::To(status) => {
                    inst.status = status;
                    match status {
                        InstanceStatus::Running => {
                            inst.last_start_ms = Some(at);
                            inst.boot_id += 1;
                            effects.push(Effect::Boot(inst.key.clone(), inst.boot_id));
                        }
                        InstanceStatus::Terminated => {
                            inst.last_stop_ms = Some(at);
                            inst.external_ip = None;
                            inst.guest_attributes.clear();
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    let mut boots = Vec::new();
    for effect in &effects {
        if let Effect::Boot(k, _) = effect {
            boots.push(k.clone());
        }
    }
    for k in boots {
        let has_external = world.instances.get(&k).is_some_and(|i| i.has_external_ip);
        if has_external {
            let (_, external) = world.allocate_ips();
            if let Some(inst) = world.instances.get_mut(&k) {
                inst.external_ip = Some(external);
            }
        }
    }
    for k in gone {
        world.instances.remove(&k);
        effects.push(Effect::Destroyed(k));
    }
    effects
}
