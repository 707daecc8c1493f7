// projects.js: the project picker of the setup step: the person's Google Cloud
// projects, and creating a new one in place (POST /api/deploy/create-project).

import * as api from './api.js';
import { byId, el, setVisible, whileBusy } from './dom.js';
import { projectIdProblem, randomSuffix, suggestProjectId } from './format.js';

const CREATE_NEW = '__create__';

let suffix = '';
let idEditedByHand = false;
/** The project the "created and selected" notice speaks of, while it shows. */
let announcedProject = null;

export function initProjects() {
  suffix = randomSuffix();
  const select = byId('setup-project');
  const nameInput = byId('new-project-name');
  const idInput = byId('new-project-id');
  select.addEventListener('change', () => {
    syncCreateForm();
    // "Project X created and selected" is wrong once another one is chosen.
    if (announcedProject !== null && select.value !== announcedProject) {
      announcedProject = null;
      setStatus('');
    }
  });
  nameInput.addEventListener('input', () => {
    if (!idEditedByHand) idInput.value = suggestProjectId(nameInput.value, suffix);
  });
  idInput.addEventListener('input', () => {
    idEditedByHand = true;
  });
  byId('create-project-button').addEventListener('click', (event) =>
    whileBusy(event.currentTarget, createFromForm));
  idInput.value = suggestProjectId(nameInput.value, suffix);
}

/** Fills the picker; keeps the current choice if it is still there. */
export function renderProjects(projects) {
  const select = byId('setup-project');
  const previous = select.value;
  select.replaceChildren(
    ...projects.map((p) => el('option', { value: p.projectId }, projectLabel(p))),
    el('option', { value: CREATE_NEW }, 'Create a new project…'),
  );
  const stillThere = projects.some((p) => p.projectId === previous);
  select.value = stillThere ? previous : (projects[0]?.projectId ?? CREATE_NEW);
  syncCreateForm();
}

/** The chosen project id, or '' while "create a new project" is selected. */
export function selectedProjectId() {
  const value = byId('setup-project').value;
  return value === CREATE_NEW ? '' : value;
}

function projectLabel(project) {
  return project.name && project.name !== project.projectId
    ? `${project.name} (${project.projectId})`
    : project.projectId;
}

function syncCreateForm() {
  setVisible(byId('create-project'), byId('setup-project').value === CREATE_NEW);
}

function setStatus(text, kind = '') {
  if (kind !== 'good') announcedProject = null;
  const status = byId('new-project-status');
  status.textContent = text;
  status.className = `status-line ${kind}`;
}

async function createFromForm() {
  const projectId = byId('new-project-id').value.trim();
  const displayName = byId('new-project-name').value.trim() || projectId;
  const problem = projectIdProblem(projectId);
  if (problem) {
    setStatus(problem, 'bad');
    byId('new-project-id').focus();
    return;
  }
  setStatus('Creating the project. This can take a minute…');
  try {
    const created = await api.createProject(projectId, displayName);
    addProject({ projectId: created.projectId, name: created.name || displayName });
    setStatus(`Project ${created.projectId} created and selected.`, 'good');
    announcedProject = created.projectId;
    suffix = randomSuffix();
    idEditedByHand = false;
  } catch (error) {
    setStatus(error.message, 'bad');
  }
}

function addProject(project) {
  const select = byId('setup-project');
  const option = el('option', { value: project.projectId }, projectLabel(project));
  select.insertBefore(option, select.lastElementChild);
  select.value = project.projectId;
  select.dispatchEvent(new Event('change', { bubbles: true }));
  select.focus();
}
