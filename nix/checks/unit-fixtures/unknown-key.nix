# expect-unit: openclaw-gateway.service Unknown key
# A misspelt systemd key in the gateway's unit; systemd-analyze verify must
# report it (nix/checks/run, step 5).
_: {
  systemd.services.openclaw-gateway.serviceConfig.MemoryMaxx = "400M";
}
