/**
 * Your own ISO, installed hands-off: from the metadata of its install image (wim-metadata.ts)
 * choose the catalog entry (client or server, by build and edition), the image Setup installs
 * (the one EDITION — or VERSION's default edition — names, else the first Pro or Standard), its
 * generic install key and the media's language; then put them into the answer file's settings.
 * Pure, except the readers at the end, which never throw for a bad ISO: a file that
 * cannot be read falls back to VERSION's entry with a warning, an ISO without Windows Setup on it
 * boots for a manual install.
 */
import { resolve } from 'node:path';
import type { Config } from '../config/options.js';
import { AppError, errorMessage } from '../core/errors.js';
import { CATALOG, genericKeyFor, resolveVersion, type CatalogEntry, type ImageSelector } from './catalog.js';
import { resolveLanguage } from './languages.js';
import type { WindowsSettings } from './settings.js';
import { readIsoMetadata, type IsoMetadata, type WimImage } from './wim-metadata.js';

export interface MediaChoice {
  entry: CatalogEntry;
  image: WimImage;
  selector: ImageSelector;
  /** The edition's name as the catalog's generic keys know it ("Pro", "Home"), when it has one. */
  editionName: string | undefined;
  /** UILanguage: the image's default language. */
  culture: string | undefined;
}

export type MediaDecision =
  | { kind: 'chosen'; choice: MediaChoice; notes: string[] }
  /** The metadata could not be read or matched: VERSION's entry as before (undefined when VERSION is a URL). */
  | { kind: 'fallback'; entry: CatalogEntry | undefined; warning: string }
  | { kind: 'manual'; reason: string };

export type ChoiceConfig = Pick<Config, 'version' | 'edition' | 'language'> & Partial<Pick<Config, 'boot'>>;

/** EDITION words → the EDITIONID stem of install.wim (Microsoft's edition ids; "Eval" suffixes dropped). */
const EDITION_IDS: Readonly<Record<string, string>> = {
  home: 'core', 'home n': 'coren', 'home single language': 'coresinglelanguage', pro: 'professional', 'pro n': 'professionaln',
  professional: 'professional', education: 'education', 'education n': 'educationn', 'pro education': 'professionaleducation',
  'pro for workstations': 'professionalworkstation', workstation: 'professionalworkstation', enterprise: 'enterprise',
  'enterprise n': 'enterprisen', 'enterprise ltsc': 'enterprises', ltsc: 'enterprises', 'iot enterprise ltsc': 'iotenterprises',
  'iot enterprise': 'iotenterprise', standard: 'serverstandard', datacenter: 'serverdatacenter', 'hyper-v': 'serverhypercore',
};

/** EDITIONID stem → the name the catalog's generic keys use. */
const KEY_NAMES: Readonly<Record<string, string>> = { core: 'Home', professional: 'Pro', education: 'Education' };

const words = (text: string) => text.toLowerCase().replace(/[-_]/g, ' ').replace(/\s+/g, ' ').trim();
const stem = (editionId: string | undefined) => (editionId ?? '').toLowerCase().replace(/eval$/, '');
const isCore = (image: WimImage) => /core/i.test(image.installationType ?? '');
const isServer = (image: WimImage) => /^server/i.test(image.installationType ?? '') || /^server/i.test(image.editionId ?? '');

/** Pure: the image a request ("Pro", "Standard Core", "Windows 11 Education", "3") names, if any. */
export function imageFor(images: readonly WimImage[], request: string): WimImage | undefined {
  const text = request.trim();
  if (/^\d+$/.test(text)) return images.find((i) => i.index === Number(text));
  // dockur's EDITION=Core on server media means Server Core of the default edition (Standard Core).
  const wanted = words(text) === 'core' && images.some(isServer) ? 'standard core' : words(text);
  const byName = images.find((i) => i.name !== undefined && (words(i.name) === wanted || words(i.name).endsWith(` ${wanted}`)));
  if (byName) return byName;
  const core = /\bcore$/.test(wanted) && wanted !== 'core';
  const base = core ? wanted.replace(/\s*core$/, '') : wanted;
  const id = EDITION_IDS[base.replace(/^server /, '')] ?? base.replace(/\s/g, '');
  const byId = images.filter((i) => stem(i.editionId) === id || stem(i.flags) === id || stem(i.flags) === `${id}${core ? 'core' : ''}`);
  // "Standard" is the Desktop Experience image, "Standard Core" the Server Core one.
  return byId.find((i) => isCore(i) === core) ?? (core ? undefined : byId[0]);
}

/** Pure: the catalog key an image's version and edition belong to; undefined when none fits. */
export function catalogKeyFor(image: WimImage): string | undefined {
  const build = image.version?.build ?? 0;
  const id = stem(image.editionId);
  const x86 = image.arch === 'x86';
  if (isServer(image)) {
    if (build >= 26100) return '2025';
    if (build >= 20348) return '2022';
    if (build >= 17763) return id === 'serverhypercore' ? 'hv' : '2019';
    if (build >= 14393) return '2016';
    if (build >= 9600) return '2012';
    if (build >= 7600) return '2008';
    return build >= 3790 ? '2003' : undefined;
  }
  const ltsc = id === 'enterprises' || id === 'enterprisesn';
  const iot = id === 'iotenterprises' || id === 'iotenterprise';
  const enterprise = id.startsWith('enterprise');
  if (build >= 22000) return iot ? '11i' : ltsc ? '11l' : enterprise ? '11e' : '11';
  if (build >= 10240) return iot ? '10i' : ltsc ? '10l' : enterprise ? '10e' : '10';
  if (build >= 9600) return enterprise ? '8e' : '8';
  if (build >= 7600) return `${enterprise ? '7e' : '7u'}${x86 ? 'x86' : ''}`;
  if (build >= 6000) return `${enterprise ? 've' : 'vu'}${x86 ? 'x86' : ''}`;
  return undefined;
}

/** Pure: the decision for an ISO's metadata (or the error reading it) and the settings. */
export function chooseFromMedia(metadata: MediaMetadata, config: ChoiceConfig): MediaDecision {
  // With BOOT set, VERSION's default ("11") is no statement about the ISO: only the ISO speaks.
  const requested = config.boot ? undefined : resolveVersion(config.version);
  const versionEntry = requested?.kind === 'catalog' ? requested.entry : undefined;
  const fallback = (why: string): MediaDecision => ({
    kind: 'fallback',
    entry: versionEntry,
    warning: versionEntry
      ? `${why}: it is installed as VERSION=${versionEntry.key} (${versionEntry.product}) with that entry's image, key and language`
      : `${why}, and VERSION names no Windows: the ISO boots for a manual install in the viewer`,
  });
  if (metadata.kind === 'unreadable') return fallback(`the ISO's install image could not be read (${metadata.error})`);
  if (metadata.kind === 'not-windows') return { kind: 'manual', reason: 'the ISO has no sources/install.wim or install.esd, so it is not Windows Setup media: it boots for a manual install in the viewer' };

  const images = metadata.images.filter((i) => !/windowspe/i.test(i.installationType ?? ''));
  const notes: string[] = [];
  const edition = config.edition?.trim() || undefined;
  let image = edition ? imageFor(images, edition) : undefined;
  if (edition && !image) notes.push(`EDITION=${JSON.stringify(edition)} names no image on this ISO (${describe(images)})`);
  // VERSION's own edition ("Pro" for 11, "Standard" for 2022) when EDITION is unset.
  image ??= !edition && versionEntry ? imageFor(images, versionEntry.edition) : undefined;
  image ??= images.find((i) => stem(i.editionId) === 'professional') ?? images.find((i) => stem(i.editionId) === 'serverstandard' && !isCore(i)) ?? images[0];
  if (!image) return fallback(`${metadata.file} lists no installable image`);
  if (image.arch === 'arm64') return { kind: 'manual', reason: `the ISO holds ${image.name ?? 'an image'} for ARM64, which qemu-system-x86_64 cannot run` };

  const key = catalogKeyFor(image);
  const detected = key ? CATALOG.find((e) => e.key === key) : undefined;
  if (!detected) return fallback(`${image.name ?? `image ${image.index}`} (build ${image.version?.build ?? 'unknown'}, ${image.installationType ?? 'no installation type'}) matches no catalog entry`);
  // An entry of the same Windows that VERSION names (tiny11 for an 11 ISO, 11e for 11) stays the user's choice.
  const same = versionEntry && versionEntry.family === detected.family && versionEntry.virtioOs === detected.virtioOs && versionEntry.arch === detected.arch;
  const entry = same ? versionEntry : detected;
  if (versionEntry && !same) notes.push(`the ISO holds ${detected.product}, not VERSION=${versionEntry.key} (${versionEntry.product}): installing it as ${detected.key}`);
  const culture = mediaCulture(image);
  if (culture && resolveLanguageOrUndefined(config.language)?.culture !== culture) {
    notes.push(`the ISO's language is ${culture}, not LANGUAGE=${JSON.stringify(config.language)}: Setup and Windows use ${culture}`);
  }
  return {
    kind: 'chosen',
    choice: { entry, image, selector: { by: 'index', value: image.index }, editionName: KEY_NAMES[stem(image.editionId)], culture },
    notes,
  };
}

function mediaCulture(image: WimImage): string | undefined {
  const raw = image.defaultLanguage ?? image.languages[0];
  if (!raw) return undefined;
  // Setup wants a language the media holds: its own spelling, in canonical case when windock knows it.
  const known = resolveLanguageOrUndefined(raw);
  return known && known.culture.toLowerCase() === raw.toLowerCase() ? known.culture : raw;
}

function resolveLanguageOrUndefined(raw: string) {
  try {
    return resolveLanguage(raw);
  } catch {
    return undefined;
  }
}

function describe(images: readonly WimImage[]): string {
  return images.map((i) => `${i.index}: ${i.name ?? i.editionId ?? '?'}`).join(', ');
}

/** Pure: the answer file's settings with the media's image, key and language. */
export function applyMediaChoice(settings: WindowsSettings, choice: MediaChoice, config: Pick<Config, 'key' | 'region' | 'keyboard' | 'language'>): WindowsSettings {
  // KEY wins; else the generic key of the chosen edition (never the entry's default edition's: it would pick another image).
  const productKey = config.key?.trim() ? settings.productKey : choice.editionName ? genericKeyFor(choice.entry, choice.editionName) : undefined;
  if (!choice.culture) return { ...settings, image: choice.selector, productKey };
  // LANGUAGE of the media's language keeps its regional format ("en-AU" on English media); REGION and KEYBOARD always win.
  const sameLanguage = resolveLanguageOrUndefined(config.language)?.culture === choice.culture;
  const locale = config.region || sameLanguage ? settings.locale : choice.culture;
  const inputLocale = config.keyboard ? settings.inputLocale : locale;
  return { ...settings, image: choice.selector, productKey, uiLanguage: choice.culture, locale, inputLocale };
}

/** What reading an ISO's install image gave: its metadata, or why it could not be read. */
export type MediaMetadata = IsoMetadata | { kind: 'unreadable'; error: string };

/** Reads the ISO at `path`; a bad ISO is `unreadable`, never a throw (only a stop request throws). */
export async function readMediaMetadata(path: string, read: (path: string) => Promise<IsoMetadata> = readIsoMetadata): Promise<MediaMetadata> {
  try {
    return await read(path);
  } catch (error) {
    if (!(error instanceof AppError) || error.code !== 'media') throw error;
    return { kind: 'unreadable', error: errorMessage(error) };
  }
}

/** Reads the ISO at `path` and decides; never throws for a bad ISO (only for a stop request). */
export async function readMediaDecision(path: string, config: ChoiceConfig, read?: (path: string) => Promise<IsoMetadata>): Promise<MediaDecision> {
  return chooseFromMedia(await readMediaMetadata(path, read), config);
}

/** An ISO read earlier in the run (the profile's, before storage): its metadata is not read again. */
export interface KnownMedia {
  path: string;
  metadata: MediaMetadata;
}

/**
 * The decision for the install ISO the storage stage attached; undefined for the ISO windock
 * itself downloaded for a catalog VERSION (`catalogDownload`), whose entry is known. `known`:
 * what was read of an ISO before, used when it is the one attached.
 */
export async function installMediaDecision(
  config: ChoiceConfig & Pick<Config, 'storage'>,
  isoPath: string,
  catalogDownload: string | undefined,
  known?: KnownMedia,
  read?: (path: string) => Promise<IsoMetadata>,
): Promise<MediaDecision | undefined> {
  if (!config.boot && catalogDownload !== undefined && isoPath === catalogDownload) return undefined;
  if (known && resolve(known.path) === resolve(isoPath)) return chooseFromMedia(known.metadata, config);
  return readMediaDecision(isoPath, config, read);
}
