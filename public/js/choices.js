// choices.js: the wizard's fixed choices (providers, regions) and the region
// guess from the browser's time zone. Pure: no DOM, so node can test it.

export const PROVIDERS = {
  kimi: 'Kimi via NVIDIA',
  claude: 'Claude',
  openai: 'OpenAI',
};

/** Google's free-tier e2-micro regions. */
const REGIONS = {
  'us-west1': 'Oregon',
  'us-central1': 'Iowa',
  'us-east1': 'South Carolina',
};

export const DEFAULT_REGION = 'us-central1';

// Zones whose people are nearer Oregon than Iowa: the US west coast, Alaska,
// Hawaii, and everything across the Pacific.
const WEST_PREFIXES = ['Pacific/', 'Asia/', 'Australia/', 'Antarctica/'];
const WEST_AMERICAS = new Set([
  'America/Los_Angeles', 'America/Vancouver', 'America/Tijuana', 'America/Anchorage',
  'America/Juneau', 'America/Sitka', 'America/Nome', 'America/Yakutat', 'America/Metlakatla',
  'America/Whitehorse', 'America/Dawson', 'US/Pacific', 'US/Alaska', 'US/Hawaii',
  'Canada/Pacific',
]);

// Zones nearer South Carolina: the US and Canadian east, the Caribbean, South
// America, and everything across the Atlantic.
const EAST_PREFIXES = [
  'Europe/', 'Africa/', 'Atlantic/', 'Indian/', 'America/Argentina/', 'America/Indiana/',
  'America/Kentucky/',
];
const EAST_AMERICAS = new Set([
  'America/New_York', 'America/Toronto', 'America/Montreal', 'America/Detroit',
  'America/Nassau', 'America/Halifax', 'America/St_Johns', 'America/Moncton',
  'America/Glace_Bay', 'America/Goose_Bay', 'America/Iqaluit', 'America/Havana',
  'America/Jamaica', 'America/Port-au-Prince', 'America/Santo_Domingo',
  'America/Puerto_Rico', 'America/Barbados', 'America/Martinique', 'America/Caracas',
  'America/Bogota', 'America/Lima', 'America/Guayaquil', 'America/Panama',
  'America/Santiago', 'America/Sao_Paulo', 'America/Montevideo', 'America/Asuncion',
  'America/La_Paz', 'America/Manaus', 'America/Recife', 'America/Fortaleza',
  'America/Bahia', 'America/Belem', 'America/Cayenne', 'America/Paramaribo',
  'America/Guyana', 'America/Port_of_Spain', 'US/Eastern', 'Canada/Eastern',
  'Canada/Atlantic', 'Canada/Newfoundland',
]);

/** The free-tier region nearest a time zone name like "Europe/Paris". */
export function guessRegion(timeZone) {
  if (typeof timeZone !== 'string' || !timeZone) return DEFAULT_REGION;
  if (WEST_AMERICAS.has(timeZone) || WEST_PREFIXES.some((p) => timeZone.startsWith(p))) {
    return 'us-west1';
  }
  if (EAST_AMERICAS.has(timeZone) || EAST_PREFIXES.some((p) => timeZone.startsWith(p))) {
    return 'us-east1';
  }
  return DEFAULT_REGION;
}

/** The browser's time zone, or '' when the browser does not say. */
export function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  } catch {
    return '';
  }
}

export function isProvider(value) {
  return Object.hasOwn(PROVIDERS, value);
}

export function isRegion(value) {
  return Object.hasOwn(REGIONS, value);
}
