//! The guest's disk: a cached Debian root (built once by `guest/build-root`, keyed by
//! that script's hash) plus, for each run, what the Nix modules render for the local
//! QEMU host (`nix/checks/guest.nix`, evaluated offline by the stand-in) and the
//! programs the units run, made into an ext4 image with `mkfs.ext4 -d`.
//!
//! The units, tmpfiles rules, users and `/etc` files are written exactly as rendered;
//! the store paths they execute are filled with the real programs: the workspace's
//! agent and provider, the guest's own `systemctl` and `ssh-keygen`, and the gateway
//! the caller chooses ([`Gateway`]).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What `nix/checks/guest.nix` renders.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    pub units: BTreeMap<String, String>,
    pub wanted_by: BTreeMap<String, Vec<String>>,
    pub sockets_wanted_by: BTreeMap<String, Vec<String>>,
    pub tmpfiles: Vec<String>,
    pub sysusers: Vec<String>,
    pub etc: BTreeMap<String, String>,
    pub store_files: BTreeMap<String, StoreFile>,
    pub packages: Packages,
    pub metadata_url: String,
    pub gateway_port: u16,
    pub memory: Memory,
}

/// The memory tuning the modules configure (`memory-tuning.nix`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    pub zram: Zram,
    pub sysctl: BTreeMap<String, String>,
    pub kernel_params: Vec<String>,
}

/// NixOS's `zramSwap`: one compressed swap device in RAM.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Zram {
    pub enable: bool,
    pub algorithm: String,
    pub memory_percent: u32,
    pub priority: i32,
}

#[derive(Debug, Deserialize)]
pub struct StoreFile {
    pub text: String,
    pub executable: bool,
}

/// Store paths of the packages the units run.
#[derive(Debug, Deserialize)]
pub struct Packages {
    pub agent: String,
    pub provider: String,
    pub gateway: String,
    pub systemd: String,
    pub openssh: String,
}

/// Evaluates `nix/checks/guest.nix` with the stand-in lib and pkgs.
pub fn render() -> Rendered {
    render_with("{ }")
}

/// Like [`render`], with the configuration pointing OpenClaw's Telegram channel at
/// `api_root` (the simulator, as the guest reaches it).
pub fn render_for_telegram(api_root: &str) -> Rendered {
    render_with(&format!(
        "{{ extraModules = [ {{ openclaw.settings.channels.telegram.apiRoot = {}; }} ]; }}",
        serde_json::to_string(api_root).expect("a string")
    ))
}

fn render_with(arguments: &str) -> Rendered {
    let checks = claw_free_testkit::workspace_root().join("nix/checks");
    let cache = crate::state_dir().join("nix-cache");
    let out = Command::new("nix-instantiate")
        .args(["--store", "dummy://", "--eval", "--strict", "--json", "-E"])
        .arg(format!("import ./guest.nix {arguments}"))
        .current_dir(&checks)
        .env("NIX_CONFIG", "build-users-group =")
        .env("XDG_CACHE_HOME", &cache)
        .output()
        .expect("run nix-instantiate (Debian's nix-bin)");
    assert!(
        out.status.success(),
        "nix/checks/guest.nix does not evaluate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("guest.nix renders what the harness reads")
}

/// The cached Debian root and the kernel and initramfs inside it.
pub struct Base {
    pub root: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// The Debian root, built by `guest/build-root` the first time (about a minute and
/// a half, from Debian's mirror) and reused while that script is unchanged.
pub fn base() -> Base {
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one = BUILDING.lock().unwrap_or_else(|p| p.into_inner());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/build-root");
    let digest = Sha256::digest(fs::read(&script).expect("guest/build-root"));
    let key: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let root = crate::state_dir().join(format!("root-{key}"));
    if !root.join("boot").is_dir() {
        let partial = crate::state_dir().join(format!("root-{key}.partial"));
        let _ = fs::remove_dir_all(&partial);
        fs::create_dir_all(crate::state_dir()).expect("the state folder");
        eprintln!(
            "firstboot: building the Debian root {} (cached afterwards)",
            root.display()
        );
        let status = Command::new("bash")
            .arg(&script)
            .arg(&partial)
            .status()
            .expect("run guest/build-root");
        assert!(status.success(), "guest/build-root failed");
        fs::rename(&partial, &root).expect("move the finished root in place");
    }
    let find = |prefix: &str| {
        let mut found: Vec<PathBuf> = fs::read_dir(root.join("boot"))
            .expect("the root's /boot")
            .map(|e| e.expect("a /boot entry").path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .collect();
        found.sort();
        found
            .pop()
            .unwrap_or_else(|| panic!("no {prefix}* in {}/boot", root.display()))
    };
    Base {
        kernel: find("vmlinuz-"),
        initrd: find("initrd.img-"),
        root,
    }
}

/// The program that serves as OpenClaw's `bin/openclaw` in the guest.
pub enum Gateway {
    /// A native program put in place as `bin/openclaw` (the stand-in).
    Program(PathBuf),
    /// The real OpenClaw: the install prefix of `scripts/install-openclaw` (Node and
    /// OpenClaw), which the VM shares read-only at [`OPENCLAW_MOUNT`].
    OpenClaw(PathBuf),
}

/// Where the guest mounts the shared OpenClaw prefix (9p, read-only).
pub const OPENCLAW_MOUNT: &str = "/opt/openclaw";
/// The 9p mount tag of that share.
pub const OPENCLAW_TAG: &str = "openclaw";

impl Gateway {
    /// The host folder the VM shares with the guest, if any.
    pub fn share(&self) -> Option<&Path> {
        match self {
            Gateway::Program(_) => None,
            Gateway::OpenClaw(prefix) => Some(prefix),
        }
    }
}

fn write(path: &Path, contents: &str, mode: u32) {
    fs::create_dir_all(path.parent().expect("a parent folder")).expect("create the folder");
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("set the mode");
}

fn install(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().expect("a parent folder")).expect("create the folder");
    fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).expect("set the mode");
}

fn link(target: &str, at: &Path) {
    fs::create_dir_all(at.parent().expect("a parent folder")).expect("create the folder");
    let _ = fs::remove_file(at);
    symlink(target, at).unwrap_or_else(|e| panic!("link {}: {e}", at.display()));
}

/// `/nix/store/...` below the guest's root.
fn in_root(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What NixOS makes of `memory-tuning.nix`, by hand: the sysctls as a sysctl.d file,
/// and zram as a oneshot unit doing what NixOS's zram-generator does (a device of
/// `memoryPercent` of RAM, `algorithm`, swap at `priority`). The kernel parameters
/// go on the command line ([`crate::vm::Vm::boot`]).
fn tune_memory(root: &Path, memory: &Memory) {
    let sysctl: String = memory
        .sysctl
        .iter()
        .map(|(key, value)| format!("{key} = {value}\n"))
        .collect();
    write(&root.join("etc/sysctl.d/90-claw-free.conf"), &sysctl, 0o644);
    if !memory.zram.enable {
        return;
    }
    let Zram {
        algorithm,
        memory_percent,
        priority,
        ..
    } = &memory.zram;
    write(
        &root.join("usr/local/sbin/zram-swap"),
        &format!(
            "#!/bin/sh
set -eu
modprobe zram
echo {algorithm} > /sys/block/zram0/comp_algorithm
kib=$(awk '/MemTotal/ {{ print $2 }}' /proc/meminfo)
echo $((kib * {memory_percent} / 100 * 1024)) > /sys/block/zram0/disksize
mkswap /dev/zram0 >/dev/null
swapon -p {priority} /dev/zram0
"
        ),
        0o755,
    );
    write(
        &root.join("etc/systemd/system/zram-swap.service"),
        "[Unit]
Description=Compressed swap in RAM, as NixOS's zramSwap makes it
DefaultDependencies=no
Before=swap.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/zram-swap
",
        0o644,
    );
    link(
        "../zram-swap.service",
        &root.join("etc/systemd/system/swap.target.wants/zram-swap.service"),
    );
}

/// Makes `dir/disk.img`: the base root with everything `rendered` says, the workspace's
/// programs and `gateway`. Returns the image's path.
pub fn disk(base: &Base, rendered: &Rendered, gateway: &Gateway, dir: &Path) -> PathBuf {
    let root = dir.join("root");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(dir).expect("the run's folder");
    run(Command::new("cp").arg("-a").arg(&base.root).arg(&root));

    // Units as rendered, enabled the way their wantedBy says.
    let units = root.join("etc/systemd/system");
    for (name, text) in &rendered.units {
        write(&units.join(name), text, 0o644);
    }
    let mut wants: Vec<(String, String)> = Vec::new();
    for (service, targets) in &rendered.wanted_by {
        wants.extend(
            targets
                .iter()
                .map(|t| (t.clone(), format!("{service}.service"))),
        );
    }
    for (socket, targets) in &rendered.sockets_wanted_by {
        wants.extend(
            targets
                .iter()
                .map(|t| (t.clone(), format!("{socket}.socket"))),
        );
    }
    // The image's sshd.service pulls in sshd-keygen.service; this guest runs no sshd.
    wants.push(("multi-user.target".into(), "sshd-keygen.service".into()));
    for (target, unit) in wants {
        link(
            &format!("../{unit}"),
            &units.join(format!("{target}.wants/{unit}")),
        );
    }

    // The test's command channel (not part of the image).
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest");
    install(
        &here.join("firstboot-shell"),
        &root.join("usr/local/sbin/firstboot-shell"),
    );
    write(
        &units.join("firstboot-shell.service"),
        &fs::read_to_string(here.join("firstboot-shell.service")).expect("firstboot-shell.service"),
        0o644,
    );
    link(
        "../firstboot-shell.service",
        &units.join("sysinit.target.wants/firstboot-shell.service"),
    );

    write(
        &root.join("etc/tmpfiles.d/claw-free.conf"),
        &(rendered.tmpfiles.join("\n") + "\n"),
        0o644,
    );
    write(
        &root.join("etc/sysusers.d/claw-free.conf"),
        &(rendered.sysusers.join("\n") + "\n"),
        0o644,
    );
    // Users exist before any service starts, as NixOS's activation makes them.
    run(Command::new("systemd-sysusers")
        .arg("--root")
        .arg(&root)
        .arg(root.join("etc/sysusers.d/claw-free.conf")));
    for (name, text) in &rendered.etc {
        write(&root.join("etc").join(name), text, 0o644);
    }

    // The store: rendered files, the real programs, the guest's systemd and ssh-keygen.
    for (path, file) in &rendered.store_files {
        let (text, mode) = if file.executable {
            (format!("#!/bin/bash\n{}", file.text), 0o755)
        } else {
            (file.text.clone(), 0o444)
        };
        write(&in_root(&root, path), &text, mode);
    }
    let packages = &rendered.packages;
    let agent = claw_free_testkit::workspace_binary("claw-free-agent", "clawfree-agent");
    install(
        &agent,
        &in_root(&root, &format!("{}/bin/clawfree-agent", packages.agent)),
    );
    for bin in ["clawfree-provider", "clawfree"] {
        let program = claw_free_testkit::workspace_binary("claw-free-provider", bin);
        install(
            &program,
            &in_root(&root, &format!("{}/bin/{bin}", packages.provider)),
        );
    }
    let openclaw = in_root(&root, &format!("{}/bin/openclaw", packages.gateway));
    match gateway {
        Gateway::Program(program) => install(program, &openclaw),
        Gateway::OpenClaw(_) => {
            // OpenClaw on the Node beside it, which its helpers find first on PATH, as
            // a packaged OpenClaw's wrapper does (the unit's PATH has no coreutils for
            // the prefix's own wrapper).
            write(
                &openclaw,
                &format!(
                    "#!/bin/sh\nPATH={OPENCLAW_MOUNT}/bin:$PATH exec {OPENCLAW_MOUNT}/bin/node {OPENCLAW_MOUNT}/node_modules/openclaw/openclaw.mjs \"$@\"\n"
                ),
                0o755,
            );
            let fstab = root.join("etc/fstab");
            let mut table = fs::read_to_string(&fstab).unwrap_or_default();
            table.push_str(&format!(
                "{OPENCLAW_TAG} {OPENCLAW_MOUNT} 9p trans=virtio,version=9p2000.L,ro,msize=512000 0 0\n"
            ));
            write(&fstab, &table, 0o644);
            fs::create_dir_all(in_root(&root, OPENCLAW_MOUNT)).expect("the mount point");
        }
    }
    tune_memory(&root, &rendered.memory);
    for bin in ["systemctl", "journalctl"] {
        link(
            &format!("/usr/bin/{bin}"),
            &in_root(&root, &format!("{}/bin/{bin}", packages.systemd)),
        );
    }
    link(
        "/usr/bin/ssh-keygen",
        &in_root(&root, &format!("{}/bin/ssh-keygen", packages.openssh)),
    );

    // Every program a unit executes from the store is there.
    for (name, text) in &rendered.units {
        for line in text.lines().filter(|l| l.starts_with("Exec")) {
            for word in line
                .split(['"', ' ', '='])
                .filter(|w| w.starts_with("/nix/store/"))
            {
                assert!(
                    in_root(&root, word).exists() || in_root(&root, word).is_symlink(),
                    "{name} runs {word}, which the guest does not have"
                );
            }
        }
    }

    let image = dir.join("disk.img");
    let _ = fs::remove_file(&image);
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "root", "-d"])
        .arg(&root)
        .arg(&image)
        .arg("3G"));
    fs::remove_dir_all(&root).expect("remove the staged root");
    image
}
