import { expect, test } from 'vitest';
import { generate } from 'lean-qr';
import { device, expiryFrom, groupSecret, inviteLink, normalizeCode, parseOtpauth, qrPath, recoveryFile, recoveryText, signed } from './logic';

test('parseOtpauth reads the server’s URI', () => {
  const u = parseOtpauth('otpauth://totp/Switchyard:ada%40example.com?algorithm=SHA1&digits=6&issuer=Switchyard&period=30&secret=JBSWY3DPEHPK3PXP');
  expect(u).toEqual({ issuer: 'Switchyard', account: 'ada@example.com', secret: 'JBSWY3DPEHPK3PXP', digits: 6, period: 30, algorithm: 'SHA1' });
});

test('parseOtpauth takes the issuer from the label and defaults the rest', () => {
  expect(parseOtpauth('otpauth://totp/My%20Gateway:bob?secret=abcd efgh')).toEqual({
    issuer: 'My Gateway',
    account: 'bob',
    secret: 'ABCDEFGH',
    digits: 6,
    period: 30,
    algorithm: 'SHA1',
  });
});

test('parseOtpauth refuses what is not a TOTP URI with a secret', () => {
  expect(parseOtpauth('otpauth://hotp/x?secret=AAAA')).toBeNull();
  expect(parseOtpauth('otpauth://totp/x?issuer=y')).toBeNull();
  expect(parseOtpauth('https://example.com')).toBeNull();
  expect(parseOtpauth('otpauth://totp/%E0%A4%A?secret=AA')).toBeNull();
});

test('groupSecret and normalizeCode', () => {
  expect(groupSecret('jbswy3dpehpk3pxp')).toBe('JBSW Y3DP EHPK 3PXP');
  expect(groupSecret('ABCDEF')).toBe('ABCD EF');
  expect(normalizeCode(' 123 456 ')).toBe('123456');
  expect(normalizeCode('12-34-56')).toBe('123456');
});

test('recovery codes as a file and as copied text', () => {
  const codes = ['aaaaa-bbbbb', 'ccccc-ddddd'];
  expect(recoveryText(codes)).toBe('aaaaa-bbbbb\nccccc-ddddd');
  const f = recoveryFile(codes, 'Switchyard', 'ada@example.com', new Date('2026-12-06T08:00:00Z'));
  expect(f).toBe(
    'Switchyard recovery codes for ada@example.com\nCreated 2026-12-06T08:00:00.000Z\nEach code works once.\n\n 1. aaaaa-bbbbb\n 2. ccccc-ddddd\n',
  );
});

test('qrPath draws one rectangle per run of dark modules', () => {
  const grid = ['X.XX', '....', 'XXXX', '.X..'];
  const code = { size: 4, get: (x: number, y: number) => grid[y]?.[x] === 'X' };
  expect(qrPath(code)).toBe('M0 0h1v1h-1zM2 0h2v1h-2zM0 2h4v1h-4zM1 3h1v1h-1z');
  expect(qrPath(code, 2)).toBe('M2 2h1v1h-1zM4 2h2v1h-2zM2 4h4v1h-4zM3 5h1v1h-1z');
});

test('qrPath covers exactly the dark modules of a real code', () => {
  const code = generate('otpauth://totp/Switchyard:a%40b.c?secret=JBSWY3DPEHPK3PXP');
  let dark = 0;
  for (let y = 0; y < code.size; y++) for (let x = 0; x < code.size; x++) if (code.get(x, y)) dark++;
  const widths = [...qrPath(code).matchAll(/h(\d+)v/g)].reduce((n, m) => n + Number(m[1]), 0);
  expect(widths).toBe(dark);
});

test('device names browser and system', () => {
  expect(device('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/140.0.0.0 Safari/537.36')).toBe('Chrome · Linux');
  expect(device('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1')).toBe(
    'Safari · iOS',
  );
  expect(device('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0')).toBe('Firefox · Windows');
  expect(device('curl/8.5.0')).toBe('curl');
  expect(device('')).toBe('');
});

test('invite links, token expiry, signed amounts', () => {
  expect(inviteLink('https://gw.example', 'SYR-AB CD')).toBe('https://gw.example/register?invite=SYR-AB%20CD');
  expect(expiryFrom(0, new Date())).toBeNull();
  expect(expiryFrom(30, new Date('2026-12-06T08:00:00.123Z'))).toBe('2027-01-05T08:00:00Z');
  expect(signed('$5.00', 5_000_000)).toBe('+$5.00');
  expect(signed('-$0.02', -20_000)).toBe('-$0.02');
  expect(signed('$0.00', 0)).toBe('$0.00');
});
