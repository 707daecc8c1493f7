# A user's bot, declared in their own flake (GitHub mode): provider, Telegram
# token and API key from agenix, decrypted with the VM's SSH host key, plus a
# skill of their own. The offline checks evaluate this file.
{ config, ... }:
{
  age.secrets = {
    telegram-token.file = ./secrets/telegram-token.age;
    anthropic-api-key.file = ./secrets/anthropic-api-key.age;
  };

  openclaw = {
    enable = true;
    provider = "claude";
    botName = "Ada";
    # The bot answers only this Telegram user (find it with the claw.free page's
    # "Find my Telegram user id", or @userinfobot).
    telegramOwnerId = 424242;
    telegramTokenFile = config.age.secrets.telegram-token.path;
    providerKeyFile = config.age.secrets.anthropic-api-key.path;
    skills = [ ./skills/weather ];
    # The key is known up front: no Setup conversation, no mutable config.
    bootstrapProvider.enable = false;
    mutableConfig = false;
  };
}
