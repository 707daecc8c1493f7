// Drives the Setup model with the official `openai` npm client, plain and streaming,
// plus malformed requests. Usage: node openai_client.mjs http://127.0.0.1:PORT
// Prints one JSON line with what it saw; exits non-zero on any mismatch.
import assert from "node:assert/strict";
import OpenAI from "openai";

const base = process.argv[2];
assert.ok(base, "usage: node openai_client.mjs BASE_URL");
const apiKey = process.env.SETUP_KEY;
assert.ok(apiKey, "SETUP_KEY must hold the Setup model's key");
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0 });
// Another key is refused the way OpenAI refuses one.
const stranger = new OpenAI({ baseURL: `${base}/v1`, apiKey: "not-the-key", maxRetries: 0 });
await assert.rejects(stranger.models.list(), (error) => error.status === 401);

const models = await client.models.list();
const ids = models.data.map((m) => m.id);
assert.deepEqual(ids, ["setup"]);
const model = await client.models.retrieve("setup");
assert.equal(model.id, "setup");

const history = [{ role: "user", content: "hi" }];
const plain = await client.chat.completions.create({ model: "setup", messages: history });
assert.equal(plain.object, "chat.completion");
assert.equal(plain.choices[0].finish_reason, "stop");
const welcome = plain.choices[0].message.content;
assert.match(welcome, /claw\.free/);
history.push({ role: "assistant", content: welcome }, { role: "user", content: "2" });

const stream = await client.chat.completions.create({
  model: "setup",
  messages: history,
  stream: true,
  stream_options: { include_usage: true },
});
let streamed = "";
let chunks = 0;
let finish = null;
let usage = null;
for await (const chunk of stream) {
  chunks += 1;
  assert.equal(chunk.object, "chat.completion.chunk");
  const choice = chunk.choices[0];
  if (choice) {
    streamed += choice.delta?.content ?? "";
    finish = choice.finish_reason ?? finish;
  }
  usage = chunk.usage ?? usage;
}
assert.equal(finish, "stop");
assert.ok(usage && usage.completion_tokens > 0, "usage arrives when asked for");
assert.match(streamed, /API key/);

const errors = {};
try {
  await client.chat.completions.create({ model: "setup", messages: [] });
  assert.fail("an empty messages array must be refused");
} catch (e) {
  assert.ok(e instanceof OpenAI.BadRequestError, String(e));
  assert.equal(e.status, 400);
  assert.equal(e.error?.type, "invalid_request_error");
  assert.equal(e.param, "messages");
  errors.emptyMessages = e.status;
}
try {
  await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] });
  assert.fail("an unknown model must be refused");
} catch (e) {
  assert.ok(e instanceof OpenAI.NotFoundError, String(e));
  assert.equal(e.code, "model_not_found");
  errors.unknownModel = e.status;
}
const raw = await fetch(`${base}/v1/chat/completions`, {
  method: "POST",
  headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}` },
  body: "{not json",
});
assert.equal(raw.status, 400);
const rawBody = await raw.json();
assert.deepEqual(Object.keys(rawBody.error).sort(), ["code", "message", "param", "type"]);
errors.malformedJson = raw.status;

console.log(JSON.stringify({ ok: true, welcome, streamed, chunks, errors }));
