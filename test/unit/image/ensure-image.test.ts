import { describe, expect, it } from 'vitest';
import { checkPullFields } from '../../../src/image/ensure-image.js';

describe('checkPullFields', () => {
  it('accepts a valid reference and pull secret', () => {
    expect(() => {
      checkPullFields({ image: '127.0.0.1:5000/team/dev:1', pullAuth: { dockerConfigJson: '{"auths":{"r.io":{"auth":"dTpw"}}}' } });
    }).not.toThrow();
  });
  it.each([
    [{ image: 'Bad/Name' }, 'image'],
    [{ image: 'ok', pullAuth: { dockerConfigJson: '{"auths":{"r.io":{}}}' } }, 'pullAuth.dockerConfigJson'],
  ])('rejects %j as InvalidSpec at %s', (spec, path) => {
    expect(() => {
      checkPullFields(spec);
    }).toThrow(expect.objectContaining({ code: 'InvalidSpec', path }) as Error);
  });
});
