import { describe, expect, it } from 'vitest';
import { EngineError, EngineUnavailableError, toEngineError } from '../../../src/engine/engine-errors.js';

describe('toEngineError: a TLS link that cannot be made is an unavailable engine', () => {
  it.each([
    'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    'ERR_SSL_WRONG_VERSION_NUMBER',
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'CERT_HAS_EXPIRED',
    'EPROTO',
  ])('%s', (code) => {
    const error = toEngineError('ping', Object.assign(new Error('handshake failed'), { code }));
    expect(error).toBeInstanceOf(EngineUnavailableError);
    expect(error.message).toContain(code);
  });

  it('an engine answer stays an ordinary engine error', () => {
    const error = toEngineError('container create', { statusCode: 409, json: { message: 'name in use' } });
    expect(error).toBeInstanceOf(EngineError);
    expect(error).not.toBeInstanceOf(EngineUnavailableError);
  });
});
