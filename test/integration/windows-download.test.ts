/**
 * The real download-link code against a loopback server replaying Microsoft's recorded answers
 * (test/fixtures/microsoft): the consumer flow, the Evaluation Center (the culture read from the
 * fwlink's redirect target), and the IP-ban refusal. What follows a refusal: windows-fallback.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { resolveLanguage } from '../../src/windows/languages.js';
import {
  ConsumerDownloadClient,
  EvalCenterClient,
  MicrosoftBlockedError,
  NoLocalizedMediaError,
} from '../../src/windows/microsoft-download.js';
import { startMicrosoftReplay, type ReplayServer } from '../fixtures/microsoft/replay-server.js';

let server: ReplayServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const signal = () => new AbortController().signal;

function clients(s: ReplayServer) {
  const options = { endpoints: s.endpoints, newSessionId: () => '11111111-2222-4333-8444-555555555555', now: () => 1_700_000_000_000 };
  return { consumer: new ConsumerDownloadClient(options), evalcenter: new EvalCenterClient(options) };
}

describe('Microsoft consumer download flow (replayed)', () => {
  it('walks page → session → handshake → SKU list → x64 link, for the chosen language', async () => {
    server = await startMicrosoftReplay('ok');
    const target = await clients(server).consumer.getLink('windows11', resolveLanguage('French'), signal());
    expect(target.route).toBe('consumer');
    expect(target.fileName).toBe('Win11_24H2_French_x64.iso');
    expect(target.url.startsWith(`${server.base}/dl/Win11_24H2_French_x64.iso?t=`)).toBe(true);
    const paths = server.requests.map((r) => new URL(r.url, server!.base).pathname);
    expect(paths).toEqual([
      '/www/en-us/software-download/windows11',
      '/vlscppe/tags',
      '/ovdf/mdt.js',
      '/ovdf/',
      '/www/software-download-connector/api/getskuinformationbyproductedition',
      '/www/software-download-connector/api/GetProductDownloadLinksBySku',
    ]);
    const linkRequest = server.requests.at(-1)!;
    expect(linkRequest.referer).toBe(`${server.endpoints.www}/software-download/windows11`);
    expect(new URL(linkRequest.url, server.base).searchParams.get('SKU')).toBe('18590');
  });

  it('takes "English (United States)" for LANGUAGE=en and "English International" for en-GB', async () => {
    server = await startMicrosoftReplay('ok');
    const { consumer } = clients(server);
    expect((await consumer.getLink('windows11', resolveLanguage('en'), signal())).fileName).toBe('Win11_24H2_English_x64.iso');
    await consumer.getLink('windows11', resolveLanguage('en-GB'), signal()).catch(() => undefined);
    const sku = server.requests.filter((r) => r.url.includes('GetProductDownloadLinksBySku')).map((r) => new URL(r.url, server!.base).searchParams.get('SKU'));
    expect(sku).toEqual(['18585', '18586']);
  });

  it('reports a language Microsoft does not offer with the list of offered ones', async () => {
    server = await startMicrosoftReplay('ok');
    const error = await clients(server).consumer.getLink('windows11', resolveLanguage('Japanese'), signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('media');
    expect(error).toBeInstanceOf(NoLocalizedMediaError);
    expect((error as AppError).message).toContain('English (United States)');
  });

  it('turns the JSON refusal (SentinelReject) into the IP-ban error, exit 4, with BOOT and /boot.iso as the way out', async () => {
    server = await startMicrosoftReplay('blocked-json');
    const error = await clients(server).consumer.getLink('windows11', resolveLanguage('English'), signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MicrosoftBlockedError);
    const blocked = error as MicrosoftBlockedError;
    expect(blocked.exitCode).toBe(4);
    expect(blocked.message).toContain('Sentinel marked this request as rejected.');
    expect(blocked.message).toContain('about a day');
    expect(blocked.hint).toContain('/boot.iso');
    expect(blocked.hint).toContain('BOOT');
  });

  it('turns the HTML refusal page (message code 715-123130) into the same error', async () => {
    server = await startMicrosoftReplay('blocked-html');
    const error = await clients(server).consumer.getLink('windows11', resolveLanguage('English'), signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MicrosoftBlockedError);
    expect((error as MicrosoftBlockedError).details?.['code']).toBe('715-123130');
  });

  it('says Microsoft changed its flow when the page lists no product edition', async () => {
    server = await startMicrosoftReplay('changed-page');
    const error = await clients(server).consumer.getLink('windows11', resolveLanguage('English'), signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).message).toContain('product edition');
    expect(error).not.toBeInstanceOf(MicrosoftBlockedError);
  });

  it('stops at once when the run is aborted', async () => {
    server = await startMicrosoftReplay('ok');
    const controller = new AbortController();
    controller.abort(new Error('stop requested'));
    await expect(clients(server).consumer.getLink('windows11', resolveLanguage('English'), controller.signal)).rejects.toThrow('stop requested');
  });
});

describe('Evaluation Center (replayed)', () => {
  it('picks the culture\'s ISO fwlink and follows it to the file name and size', async () => {
    server = await startMicrosoftReplay('ok');
    const target = await clients(server).evalcenter.getLink('windows-server-2022', 0, resolveLanguage('German'), signal());
    expect(target).toEqual({ url: `${server.base}/dl/SERVER_EVAL_x64FRE_de-de.iso`, fileName: 'SERVER_EVAL_x64FRE_de-de.iso', size: server.isoSize, route: 'evalcenter' });
  });

  it('reads the culture from the redirect target: a German link that leads to English media is no German media', async () => {
    server = await startMicrosoftReplay('eval-english-only');
    const error = await clients(server).evalcenter.getLink('windows-server-2022', 0, resolveLanguage('German'), signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoLocalizedMediaError);
    expect((error as NoLocalizedMediaError).exitCode).toBe(4);
    expect((error as NoLocalizedMediaError).message).toContain('SERVER_EVAL_x64FRE_en-us.iso');
    // The Location was read without following it: no HEAD reached the English file.
    expect(server.requests.filter((r) => r.url.startsWith('/dl/'))).toEqual([]);
    // English still finds its link.
    const english = await clients(server).evalcenter.getLink('windows-server-2022', 0, resolveLanguage('English'), signal());
    expect(english.fileName).toBe('SERVER_EVAL_x64FRE_en-us.iso');
  });

  it('names a language the Evaluation Center has no media in without asking it', async () => {
    server = await startMicrosoftReplay('ok');
    const error = await clients(server).evalcenter.getLink('windows-server-2022', 0, resolveLanguage('Arabic'), signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoLocalizedMediaError);
    expect(server.requests).toEqual([]);
  });
});
