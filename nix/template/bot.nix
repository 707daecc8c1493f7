# Your bot. Every change here is a commit (or a pull request) to main; CI
# builds it and the VM switches to it, checks its health and rolls back on
# its own if it is not healthy. Secrets are .age files in ./secrets,
# encrypted to the VM's host key (./secrets/recipients).
{ config, ... }:
{
  age.secrets.telegram-token.file = ./secrets/telegram-token.age;

  openclaw = {
    enable = true;
    telegramTokenFile = config.age.secrets.telegram-token.path;
  };
}
