//! The simulator's Telegram as the test suites drive it through its admin API: a bot
//! registered, a simulated user writing to it, what it has sent to a chat, and the
//! owner's side of a conversation, turn by turn.
//!
//! Each suite reaches the admin API through its own client; [`Telegram::new`] takes
//! that as a function from a path under `/_admin/` (`telegram/messages`) and a JSON
//! body to the JSON answer.

use serde_json::{json, Value};
use std::time::Duration;

/// How long the bot may take to answer a message: the real gateway asks the Setup
/// model or the LLM first, on a loaded machine.
const REPLY_TIMEOUT: Duration = Duration::from_secs(240);

/// A suite's way to the simulator's admin API: a path under `/_admin/` and a JSON
/// body to the JSON answer.
type Admin<'a> = Box<dyn Fn(&str, Value) -> Value + 'a>;

/// One bot of the simulated Telegram.
pub struct Telegram<'a> {
    admin: Admin<'a>,
    token: String,
}

impl<'a> Telegram<'a> {
    /// The bot whose token is `token`, reached through `admin`.
    pub fn new(token: &str, admin: impl Fn(&str, Value) -> Value + 'a) -> Self {
        Self {
            admin: Box::new(admin),
            token: token.to_string(),
        }
    }

    /// Registers the bot as `username`, with no message waiting for it.
    pub fn add_bot(&self, username: &str) {
        (self.admin)(
            "telegram/bots",
            json!({ "token": self.token, "username": username, "updates": [] }),
        );
    }

    /// The simulated user `from` (first name Ada) writes `text` to the bot.
    pub fn say(&self, from: u64, text: &str) {
        (self.admin)(
            "telegram/messages",
            json!({ "token": self.token, "fromId": from, "firstName": "Ada", "text": text }),
        );
    }

    /// What the bot has sent to `chat`, oldest first.
    pub fn sent_to(&self, chat: u64) -> Vec<String> {
        (self.admin)("telegram/sent", json!({ "token": self.token }))
            .as_array()
            .expect("telegram/sent answers a list")
            .iter()
            .filter(|m| m["chatId"] == chat)
            .filter_map(|m| m["text"].as_str().map(String::from))
            .collect()
    }

    /// Waits for the bot's messages to `chat` after the first `seen`.
    pub fn next_replies(&self, chat: u64, seen: usize) -> Vec<String> {
        crate::wait_for("the bot's reply", REPLY_TIMEOUT, || {
            let sent = self.sent_to(chat);
            (sent.len() > seen).then(|| sent[seen..].to_vec())
        })
    }

    /// The side of user `chat` in a conversation with the bot, from its start.
    pub fn conversation(&self, chat: u64) -> Conversation<'_, 'a> {
        Conversation {
            telegram: self,
            chat,
            seen: 0,
        }
    }
}

/// One user's side of a conversation: each turn says something and waits for the
/// bot's replies to it.
pub struct Conversation<'t, 'a> {
    telegram: &'t Telegram<'a>,
    chat: u64,
    seen: usize,
}

impl Conversation<'_, '_> {
    /// Writes `text` and returns the replies the bot sent since the last turn.
    pub fn turn(&mut self, text: &str) -> Vec<String> {
        self.telegram.say(self.chat, text);
        let replies = self.telegram.next_replies(self.chat, self.seen);
        self.seen += replies.len();
        replies
    }
}
