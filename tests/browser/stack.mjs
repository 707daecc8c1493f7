// stack.mjs: starts the whole local stack for a browser test (the Google
// simulator and the Worker under wrangler dev, both on free ports) by running
// target/debug/claw-free-stack --json, and talks to the simulator's admin API
// (docs/CONTRACTS.md section 2).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
// CLAW_FREE_STACK points at another build of the same program (a release build, say).
const STACK_BINARY = process.env.CLAW_FREE_STACK
  || fileURLToPath(new URL('../../target/debug/claw-free-stack', import.meta.url));
// The stack rebuilds the Worker, simulator and agent first when their sources changed.
const READY_TIMEOUT_MS = 600_000;
const STOP_GRACE_MS = 5_000;

/**
 * Starts the stack and resolves to {site, sim, admin, stop} once it printed its
 * JSON line. extraArgs go to the binary as they are.
 */
export async function startStack(extraArgs = []) {
  if (!existsSync(STACK_BINARY)) {
    throw new Error(`${STACK_BINARY} is missing: build it first (cargo build -p claw-free-it --bins)`);
  }
  // Its own process group, so stopping it also stops wrangler, workerd and the simulator.
  const child = spawn(STACK_BINARY, ['--json', ...extraArgs], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderrTail = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderrTail.push(chunk);
    if (stderrTail.length > 50) stderrTail.shift();
  });
  let endpoints;
  try {
    endpoints = await readReadyLine(child, stderrTail);
  } catch (error) {
    await stopProcessGroup(child);
    throw error;
  }
  return {
    site: endpoints.site,
    sim: endpoints.sim,
    // With --github: the development GitHub App's registration, to post again after a reset.
    githubApp: endpoints.githubApp || null,
    admin: simAdmin(endpoints.sim),
    stderr: () => stderrTail.join(''),
    stop: () => stopProcessGroup(child),
  };
}

function readReadyLine(child, stderrTail) {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => fail(new Error(`the stack did not start within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
    function fail(error) {
      clearTimeout(timer);
      lines.close();
      reject(new Error(`${error.message}\n--- stack stderr ---\n${stderrTail.join('')}`));
    }
    lines.on('line', (line) => {
      let parsed;
      try {
        parsed = JSON.parse(line);
      } catch {
        return; // Not the ready line.
      }
      if (typeof parsed.site === 'string' && typeof parsed.sim === 'string') {
        clearTimeout(timer);
        resolve(parsed);
      }
    });
    child.once('exit', (code, signal) => fail(new Error(`the stack exited early (code ${code}, signal ${signal})`)));
    child.once('error', fail);
  });
}

async function stopProcessGroup(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin.end();
  signalGroup(child, 'SIGTERM');
  const inTime = await Promise.race([exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
  if (!inTime) {
    signalGroup(child, 'SIGKILL');
    await exited;
  }
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The simulator's admin API: each method is one route of CONTRACTS.md section 2. */
export function simAdmin(simBase) {
  async function call(method, path, body) {
    const response = await fetch(`${simBase}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    return text ? JSON.parse(text) : {};
  }
  return {
    reset: () => call('POST', '/_admin/reset'),
    config: (settings) => call('POST', '/_admin/config', settings),
    addUser: (user) => call('POST', '/_admin/users', user),
    addProject: (project) => call('POST', '/_admin/projects', project),
    fault: (fault) => call('POST', '/_admin/faults', fault),
    vmFault: (fault) => call('POST', '/_admin/vm-faults', fault),
    telegramBot: (bot) => call('POST', '/_admin/telegram/bots', bot),
    counters: () => call('GET', '/_admin/counters'),
    vms: () => call('GET', '/_admin/vms'),
    stopVm: (vm) => call('POST', '/_admin/vms/stop', vm),
    expireTokens: (who = {}) => call('POST', '/_admin/tokens/expire', who),
    clearFaults: () => call('DELETE', '/_admin/faults'),
    githubApp: (registration) => call('POST', '/_admin/github/apps', registration),
    githubRepo: (fullName) => call('GET', `/_admin/github/repos/${fullName}`),
    githubPlan: (account) => call('POST', '/_admin/github/plan', account),
  };
}
