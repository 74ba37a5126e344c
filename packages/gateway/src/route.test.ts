import { describe, expect, it } from '@jest/globals';
import { RouteError, parseGitRoute } from './route';

function code(method: string, target: string): string {
  try {
    parseGitRoute(method, target);
  } catch (e) {
    if (e instanceof RouteError) return `${e.code} ${(e.delivery as { status: number }).status}`;
    throw e;
  }
  return 'ok';
}

describe('parseGitRoute', () => {
  it('recognises the three smart-HTTP endpoints', () => {
    expect(parseGitRoute('GET', '/local/team/app.git/info/refs?service=git-upload-pack')).toEqual({
      kind: 'info-refs',
      upstream: 'local',
      repoPath: 'team/app.git',
      service: 'git-upload-pack',
    });
    expect(parseGitRoute('GET', '/local/app/info/refs?service=git-receive-pack')).toMatchObject({ service: 'git-receive-pack', repoPath: 'app' });
    expect(parseGitRoute('POST', '/gh/org/.github/git-upload-pack')).toEqual({ kind: 'upload-pack', upstream: 'gh', repoPath: 'org/.github' });
    expect(parseGitRoute('POST', '/gh/a/b/c.git/git-receive-pack')).toEqual({ kind: 'receive-pack', upstream: 'gh', repoPath: 'a/b/c.git' });
  });

  it.each([
    // traversal, raw and encoded, single and double
    ['GET', '/local/../etc/info/refs?service=git-upload-pack', 'ROUTE_BAD_PATH 400'],
    ['GET', '/local/a/./b/info/refs?service=git-upload-pack', 'ROUTE_BAD_PATH 400'],
    ['GET', '/local/%2e%2e/x/info/refs?service=git-upload-pack', 'ROUTE_BAD_TARGET 400'],
    ['GET', '/local/%2E%2E%2Fx/info/refs?service=git-upload-pack', 'ROUTE_BAD_TARGET 400'],
    ['GET', '/local/a%2fb/info/refs?service=git-upload-pack', 'ROUTE_BAD_TARGET 400'],
    ['GET', '/local/a%5cb/info/refs?service=git-upload-pack', 'ROUTE_BAD_TARGET 400'],
    ['GET', '/local/%252e%252e/x/info/refs?service=git-upload-pack', 'ROUTE_BAD_TARGET 400'],
    ['GET', '/local/a\\..\\b/info/refs?service=git-upload-pack', 'ROUTE_BAD_TARGET 400'],
    ['GET', '/local/a\u0000b/info/refs?service=git-upload-pack', 'ROUTE_BAD_TARGET 400'],
    ['GET', '/local/a\tb/info/refs?service=git-upload-pack', 'ROUTE_BAD_TARGET 400'],
    ['GET', '/local//a/info/refs?service=git-upload-pack', 'ROUTE_BAD_PATH 400'],
    ['GET', '/local/a/info/refs/?service=git-upload-pack', 'ROUTE_BAD_PATH 400'],
    ['GET', '/local/.../info/refs?service=git-upload-pack', 'ROUTE_BAD_PATH 400'],
    // absolute-form and scheme-relative targets
    ['GET', 'http://evil.example/local/a/info/refs?service=git-upload-pack', 'ROUTE_BAD_TARGET 400'],
    ['GET', '//evil.example/local/a/info/refs?service=git-upload-pack', 'ROUTE_BAD_TARGET 400'],
    ['OPTIONS', '*', 'ROUTE_BAD_TARGET 400'],
    ['GET', `/local/${'a'.repeat(5000)}/info/refs?service=git-upload-pack`, 'ROUTE_BAD_TARGET 400'],
    // wrong query / method / endpoint
    ['GET', '/local/a/info/refs', 'ROUTE_BAD_QUERY 400'],
    ['GET', '/local/a/info/refs?service=git-upload-archive', 'ROUTE_BAD_QUERY 400'],
    ['GET', '/local/a/info/refs?service=git-upload-pack&x=1', 'ROUTE_BAD_QUERY 400'],
    ['POST', '/local/a/git-upload-pack?service=x', 'ROUTE_BAD_QUERY 400'],
    ['POST', '/local/a/info/refs?service=git-upload-pack', 'ROUTE_METHOD_NOT_ALLOWED 405'],
    ['GET', '/local/a/git-receive-pack', 'ROUTE_METHOD_NOT_ALLOWED 405'],
    ['PUT', '/local/a/git-upload-pack', 'ROUTE_METHOD_NOT_ALLOWED 405'],
    ['GET', '/local/a/objects/info/packs', 'ROUTE_NOT_FOUND 404'],
    ['GET', '/local/a/HEAD', 'ROUTE_NOT_FOUND 404'],
    ['GET', '/local/info/refs?service=git-upload-pack', 'ROUTE_NOT_FOUND 404'],
    ['POST', '/local/git-upload-pack', 'ROUTE_NOT_FOUND 404'],
    ['GET', '/', 'ROUTE_NOT_FOUND 404'],
  ])('%s %s → %s', (method, target, expected) => {
    expect(code(method, target)).toBe(expected);
  });

  it('never puts raw control bytes of the target into its error', () => {
    try {
      parseGitRoute('GET', '/a\u0000\u001b[31m/info/refs');
    } catch (e) {
      expect(JSON.stringify((e as RouteError).toJSON())).not.toMatch(/\\u0000|\\u001b/);
    }
  });
});
