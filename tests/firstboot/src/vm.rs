//! One boot of the guest under QEMU, and the command channel into it.
//!
//! QEMU runs with TCG (no KVM needed), the e2-micro's 1 GB and one vCPU, the guest's
//! console in `console.log`, and user networking with `restrict=on`: the guest reaches
//! nothing but the metadata server's address, which `guestfwd` joins, one
//! `firstboot-forward` per connection, to the simulator's loopback port. QEMU leads
//! its own process group and dies with the test process (`PR_SET_PDEATHSIG`); dropping
//! a [`Vm`] kills the group, forwarders included.
//!
//! The command channel is a virtio-serial port served in the guest by
//! `firstboot-shell` (see `guest/build-root`): a request is `<id> <base64 command>`,
//! an answer `<id> <exit status> <base64 output>`; answers to other ids (a ping sent
//! before the guest listened) are skipped.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::guest::Base;

/// How long a guest-side event may take under TCG on a busy 2-core machine.
pub const GUEST_DEADLINE: Duration = Duration::from_secs(600);

pub struct Vm {
    child: Child,
    pub started: Instant,
    pub console: PathBuf,
    socket: PathBuf,
    channel: Option<(UnixStream, BufReader<UnixStream>)>,
    next_id: u64,
}

/// `http://HOST:PORT/...` → (HOST, PORT).
fn host_port(url: &str) -> (String, u16) {
    let rest = url
        .strip_prefix("http://")
        .expect("an http:// metadata URL");
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), port.parse().expect("a port")),
        None => (authority.to_string(), 80),
    }
}

impl Vm {
    /// Boots `disk` in `dir`, forwarding the host of `metadata_url` to `sim_port`, with
    /// `kernel_params` on the kernel's command line and `share` (if any) offered
    /// read-only over 9p as [`crate::guest::OPENCLAW_TAG`].
    pub fn boot(
        base: &Base,
        disk: &Path,
        dir: &Path,
        metadata_url: &str,
        sim_port: u16,
        kernel_params: &[String],
        share: Option<&Path>,
    ) -> Self {
        let (host, port) = host_port(metadata_url);
        let forward =
            claw_free_testkit::workspace_binary("claw-free-firstboot", "firstboot-forward");
        let console = dir.join("console.log");
        let socket = dir.join("shell.sock");
        let _ = std::fs::remove_file(&socket);
        let mut qemu = Command::new("qemu-system-x86_64");
        qemu.args(["-accel", "tcg", "-m", "1024", "-smp", "1", "-nodefaults", "-display", "none", "-no-reboot"])
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .arg("-kernel")
            .arg(&base.kernel)
            .arg("-initrd")
            .arg(&base.initrd)
            .arg("-append")
            .arg(format!(
                "root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=-1 systemd.show_status=1 {}",
                kernel_params.join(" ")
            ))
            .arg("-drive")
            .arg(format!("file={},if=virtio,format=raw,cache=unsafe", disk.display()))
            .arg("-netdev")
            // QEMU refuses a guestfwd on its own host address (10.0.2.2 by default), the
            // address the local image's metadata URL names: its host alias moves aside.
            .arg(format!(
                "user,id=net0,restrict=on,net=10.0.2.0/24,host=10.0.2.1,guestfwd=tcp:{host}:{port}-cmd:{} {sim_port}",
                forward.display()
            ))
            .args(["-device", "virtio-net-pci,netdev=net0"])
            .args(["-device", "virtio-serial-pci"])
            .arg("-chardev")
            .arg(format!("socket,id=shell,path={},server=on,wait=off", socket.display()))
            .args(["-device", "virtserialport,chardev=shell,name=org.clawfree.shell"])
            .args(share.into_iter().flat_map(|folder| {
                [
                    "-virtfs".to_string(),
                    format!(
                        "local,path={},mount_tag={},security_model=none,readonly=on",
                        folder.display(),
                        crate::guest::OPENCLAW_TAG
                    ),
                ]
            }))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("qemu.log")).expect("qemu.log"),
            ));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            qemu.pre_exec(|| {
                libc::setsid();
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = qemu.spawn().expect("start qemu-system-x86_64");
        Self {
            child,
            started: Instant::now(),
            console,
            socket,
            channel: None,
            next_id: 0,
        }
    }

    /// The guest's console so far, for failure messages.
    pub fn console_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.console).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// Polls `probe` until it finds something. If QEMU ends first, or `deadline` passes,
    /// fails the test with what was awaited (`what`, asked only then) and the guest's
    /// journal of our units and OpenClaw's, and its memory.
    pub fn wait_for<T>(
        &mut self,
        deadline: Duration,
        what: impl FnOnce() -> String,
        mut probe: impl FnMut(&mut Vm) -> Option<T>,
    ) -> T {
        let until = Instant::now() + deadline;
        loop {
            if let Some(found) = probe(self) {
                return found;
            }
            self.assert_running();
            if Instant::now() > until {
                let journal = self
                    .run("journalctl -b --no-pager -n 120 -u 'clawfree-*' -u 'openclaw-*'; free -m; cat /proc/swaps")
                    .1;
                panic!(
                    "{} did not happen in time\n--- journal ---\n{journal}",
                    what()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Fails the test with QEMU's and the guest's last words if QEMU has ended.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exited() {
            let qemu = std::fs::read_to_string(self.console.with_file_name("qemu.log"))
                .unwrap_or_default();
            panic!(
                "QEMU ended ({status}): {qemu}\n--- console ---\n{}",
                self.console_tail()
            );
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Connects the command channel and waits until the guest answers on it.
    fn connect(&mut self) {
        let deadline = Instant::now() + GUEST_DEADLINE;
        let stream = loop {
            if let Ok(stream) = UnixStream::connect(&self.socket) {
                break stream;
            }
            if let Some(status) = self.exited() {
                panic!("QEMU ended ({status}) before its channel opened");
            }
            assert!(
                Instant::now() < deadline,
                "QEMU never opened {}",
                self.socket.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("a read timeout");
        let reader = BufReader::new(stream.try_clone().expect("a second handle"));
        self.channel = Some((stream, reader));
        // Ping until the guest's shell answers one of the pings.
        loop {
            if let Some(status) = self.exited() {
                panic!(
                    "the guest stopped ({status}) before its shell answered:\n{}",
                    self.console_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the guest's shell never answered:\n{}",
                self.console_tail()
            );
            let id = self.send("true");
            if self
                .receive(id, Instant::now() + Duration::from_secs(3))
                .is_some()
            {
                return;
            }
        }
    }

    fn send(&mut self, command: &str) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let (stream, _) = self.channel.as_mut().expect("a connected channel");
        stream
            .write_all(format!("{id} {}\n", BASE64.encode(command)).as_bytes())
            .expect("write to the guest's channel");
        id
    }

    /// The answer to request `id`, or `None` at `deadline`.
    fn receive(&mut self, id: u64, deadline: Instant) -> Option<(i32, String)> {
        let (_, reader) = self.channel.as_mut().expect("a connected channel");
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => std::thread::sleep(Duration::from_millis(200)),
                Ok(_) => {
                    let mut parts = line.trim_end().splitn(3, ' ');
                    let (Some(got), Some(status)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    if got.parse::<u64>().ok() != Some(id) {
                        continue;
                    }
                    let output = BASE64
                        .decode(parts.next().unwrap_or(""))
                        .unwrap_or_default();
                    return Some((
                        status.parse().unwrap_or(-1),
                        String::from_utf8_lossy(&output).into_owned(),
                    ));
                }
                Err(_) => {} // the read timeout: look at the deadline again
            }
        }
        None
    }

    /// Runs `command` with bash as root in the guest: (exit status, stdout and stderr).
    pub fn run(&mut self, command: &str) -> (i32, String) {
        if self.channel.is_none() {
            self.connect();
        }
        let id = self.send(command);
        self.receive(id, Instant::now() + GUEST_DEADLINE)
            .unwrap_or_else(|| {
                panic!(
                    "no answer from the guest to {command:?}:\n{}",
                    self.console_tail()
                )
            })
    }

    /// Like [`Vm::run`], failing the test unless the command succeeds; its output trimmed.
    pub fn must(&mut self, command: &str) -> String {
        let (status, output) = self.run(command);
        assert_eq!(status, 0, "in the guest, {command:?} failed: {output}");
        output.trim().to_string()
    }

    /// Sends `command` without waiting for an answer (one that stops the guest).
    pub fn start(&mut self, command: &str) {
        if self.channel.is_none() {
            self.connect();
        }
        self.send(command);
    }

    /// Waits until QEMU has ended (the guest rebooted or powered off; `-no-reboot`).
    pub fn wait_end(&mut self) {
        let deadline = Instant::now() + GUEST_DEADLINE;
        while self.exited().is_none() {
            assert!(
                Instant::now() < deadline,
                "the guest did not stop:\n{}",
                self.console_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        self.channel = None;
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        // QEMU leads its process group: the forwarders it started go with it.
        let group = self.child.id() as libc::pid_t;
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
