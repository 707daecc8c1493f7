# The first boot of the real image under the NixOS test driver, for any
# machine with Nix and KVM: node `metadata` serves the claw.free simulator as
# Google's metadata server, node `bot` is built from the same modules as the
# GCE image with its agent pointed at it. The journey and assertions of
# tests/firstboot (which runs the same on a Debian guest where Nix cannot
# build): waiting-secret, the first secret encrypted by the Worker's code,
# ready; the gateway as `openclaw`; secrets 0600 in a 0700 folder; the
# set-secret socket for the `openclaw` group only; a restart keeps the bot
# healthy without redoing setup; setup killed midway, then a power cut,
# converges. Prints boot-to-ready time and the whole VM's idle memory.
{
  pkgs,
  botModules,
  testTools,
}:
let
  port = 8099;
  vm = "local-project/us-central1-a/bot-local";
  token = "123456789:AAHfirstbootfirstbootfirstboot0123";
in
pkgs.testers.runNixOSTest {
  name = "claw-free-first-boot";

  nodes = {
    metadata = {
      networking.firewall.allowedTCPPorts = [ port ];
      environment.systemPackages = [
        testTools.firstboot
        pkgs.curl
        pkgs.jq
      ];
      systemd.services.claw-free-sim = {
        wantedBy = [ "multi-user.target" ];
        serviceConfig.ExecStart = "${testTools.sim}/bin/claw-free-sim --port ${toString port} --state-dir /var/lib/claw-free-sim";
      };
    };

    bot = {
      imports = botModules;
      openclaw.agent.metadataUrl = "http://metadata:${toString port}/_vm/${vm}";
      # The e2-micro's memory.
      virtualisation.memorySize = 1024;
    };
  };

  testScript = ''
    import json, shlex, time

    admin = "http://127.0.0.1:${toString port}/_admin"

    def attr(key):
        listing = json.loads(metadata.succeed(f"curl -sf {admin}/vms"))
        return listing["vms"][0]["guestAttributes"].get("openclaw/" + key, "")

    def wait_attr(key, ok, timeout=600):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = attr(key)
            if ok(value):
                return value
            time.sleep(1)
        raise Exception(f"openclaw/{key} never became what the test waits for (now {attr(key)!r})")

    def post(path, body):
        metadata.succeed(f"curl -sf -X POST {admin}/{path} -H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))}")

    def deliver_token():
        recipient = attr("recipient")
        ciphertext = metadata.succeed(f"printf %s {shlex.quote('${token}')} | firstboot-encrypt {shlex.quote(recipient)}")
        post("vms/metadata", {"project": "local-project", "zone": "us-central1-a", "instance": "bot-local",
                              "items": {"openclaw-secret-telegram-token": ciphertext, "openclaw-secret-version": "1"}})

    def healthy_since(since):
        return lambda v: v.startswith("ok ") and int(v.split()[1]) >= since

    def assert_ready():
        for unit in ["clawfree-setup", "clawfree-watch-secrets", "clawfree-health", "clawfree-provider", "openclaw-gateway"]:
            bot.succeed(f"systemctl is-active {unit}.service")
        pid = bot.succeed("systemctl show -p MainPID --value openclaw-gateway.service").strip()
        assert bot.succeed(f"stat -c %U /proc/{pid}").strip() == "openclaw"
        bot.succeed("curl -sf http://127.0.0.1:18789/health")
        modes = bot.succeed("stat -c '%a %U' /var/lib/openclaw/secrets /var/lib/openclaw/secrets/telegram-token /var/lib/openclaw/openclaw.json")
        assert modes.split("\n")[:3] == ["700 root", "600 root", "600 root"], modes

    metadata.start()
    metadata.wait_for_unit("claw-free-sim.service")
    metadata.wait_for_open_port(${toString port})
    post("vms", {"project": "local-project", "zone": "us-central1-a", "instance": "bot-local", "runAgent": False,
                 "metadata": {"LLM_PROVIDER": "claude", "BOT_NAME": "First boot", "enable-guest-attributes": "TRUE"}})

    with subtest("first boot: waiting-secret, the secret, ready"):
        started = time.monotonic()
        bot.start()
        wait_attr("setup", lambda v: v == "waiting-secret")
        deliver_token()
        wait_attr("setup", lambda v: v == "ready")
        print(f"boot to setup=ready: {time.monotonic() - started:.1f} s")
        assert_ready()

    with subtest("the set-secret socket: group openclaw only"):
        assert bot.succeed("stat -c '%a %U %G' /run/clawfree/set-secret.sock").strip() == "660 root openclaw"
        bot.fail("printf %s x | runuser -u nobody -- clawfree secret set intruder-key")
        bot.fail("test -e /var/lib/openclaw/secrets/intruder-key")
        bot.succeed("printf %s sk-firstboot-0123456789 | runuser -u openclaw -- clawfree secret set openai-api-key")
        assert bot.succeed("stat -c '%a %U' /var/lib/openclaw/secrets/openai-api-key").strip() == "600 root"

    with subtest("idle memory"):
        print(bot.succeed("free -m"))
        print(bot.succeed("systemd-cgtop -b -n 1 -m --depth=2"))
        for unit in ["clawfree-watch-secrets", "clawfree-health", "clawfree-provider", "openclaw-gateway"]:
            print(unit, bot.succeed(f"systemctl show -p MemoryCurrent --value {unit}.service").strip())

    with subtest("a restart keeps the bot healthy and does not redo setup"):
        before = bot.succeed("stat -c '%Y %i' /var/lib/openclaw/.setup-complete; sha256sum /var/lib/openclaw/openclaw.json")
        bot.shutdown()
        since = int(time.time())
        started = time.monotonic()
        bot.start()
        wait_attr("health", healthy_since(since))
        print(f"restart: boot to a fresh health=ok: {time.monotonic() - started:.1f} s")
        assert bot.succeed("stat -c '%Y %i' /var/lib/openclaw/.setup-complete; sha256sum /var/lib/openclaw/openclaw.json") == before
        bot.succeed("journalctl -b -u clawfree-setup.service | grep -q 'already complete'")
        assert_ready()

    with subtest("setup killed midway, then a power cut, converges"):
        bot.succeed("systemctl stop openclaw-gateway clawfree-health clawfree-watch-secrets clawfree-setup")
        bot.succeed("rm -rf /var/lib/openclaw/.setup-complete /var/lib/openclaw/.secret-version /var/lib/openclaw/openclaw.json /var/lib/openclaw/claw-free.json /var/lib/openclaw/secrets")
        post("metadata-server", {"down": False, "delayMs": 6000})
        bot.succeed("systemctl start --no-block clawfree-setup.service")
        bot.wait_until_succeeds("journalctl -u clawfree-setup.service | grep -q 'state configuring'")
        bot.succeed("systemctl kill --signal=SIGKILL clawfree-setup.service")
        bot.fail("test -e /var/lib/openclaw/.setup-complete")
        bot.crash()
        post("metadata-server", {"down": False, "delayMs": 0})
        bot.start()
        bot.wait_until_succeeds("test -e /var/lib/openclaw/.setup-complete", timeout=600)
        since = int(time.time())
        wait_attr("health", healthy_since(since))
        assert_ready()
        bot.fail("test -e /var/lib/openclaw/.setup-staging")
  '';
}
