// The bench's reference: a plain JavaScript Worker that does, per status poll, what
// the original claw.free TypeScript Worker (functions/api/deploy/[id].ts) did, so
// that `scripts/bench` can measure ours against it in the same run, on the same
// wrangler dev and the same machine:
//   - a finished deploy: one KV read (the deploy record) and a JSON answer;
//   - a deploy in progress: that read, a second (the session, for the access token)
//     and one Google call (the instance), then the answer.
// It writes nothing on a poll (the original moved its state elsewhere). Only the
// bench talks to it; `POST /_seed` stores the records it polls.

const json = (status, body) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });

function cookie(request, name) {
  const header = request.headers.get("cookie") || "";
  for (const part of header.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return rest.join("=");
  }
  return null;
}

async function status(request, env, id) {
  const raw = await env.KV.get(`deploy:${id}`);
  if (!raw) return json(404, { error: "Deployment not found" });
  const deploy = JSON.parse(raw);
  if (deploy.status === "done" || deploy.status === "error") {
    return json(200, deploy);
  }
  const sessionRaw = await env.KV.get(`session:${cookie(request, "session")}`);
  if (!sessionRaw) return json(401, { error: "Not logged in" });
  const session = JSON.parse(sessionRaw);
  const url = `${env.COMPUTE_API}/compute/v1/projects/${deploy.projectId}/zones/${deploy.zone}/instances/${deploy.vmName}`;
  const google = await fetch(url, {
    headers: { authorization: `Bearer ${session.accessToken}` },
  });
  const instance = google.ok ? await google.json() : {};
  const ip = instance.networkInterfaces?.[0]?.accessConfigs?.[0]?.natIP;
  return json(200, { ...deploy, status: instance.status === "RUNNING" ? "booting" : "creating", ip });
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/api/health") return json(200, { ok: true, service: "reference" });
    if (pathname === "/_seed" && request.method === "POST") {
      const { deploys = {}, sessions = {} } = await request.json();
      for (const [id, value] of Object.entries(deploys)) {
        await env.KV.put(`deploy:${id}`, JSON.stringify(value), { expirationTtl: 3600 });
      }
      for (const [id, value] of Object.entries(sessions)) {
        await env.KV.put(`session:${id}`, JSON.stringify(value), { expirationTtl: 3600 });
      }
      return json(200, { ok: true });
    }
    const match = pathname.match(/^\/api\/deploy\/([0-9a-f]{32})$/);
    if (match && request.method === "GET") return status(request, env, match[1]);
    return json(404, { error: "not found" });
  },
};
