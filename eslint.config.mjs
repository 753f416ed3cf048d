// ESLint flat config (`npm run lint` runs it, then `prettier --check`).
// lib/ is TypeScript, linted with type information from tsconfig.json;
// test/, bench/ and scripts/ are plain CommonJS run by Node. Layout is
// Prettier's job: eslint-config-prettier, last, turns off the rules that
// would fight it. Every rule turned off or loosened says why, here or next
// to the one line it is disabled for.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'build/', 'prebuilds/', 'bench/results/', '.tap/']),
  {
    linterOptions: {
      // A disable comment that no longer disables anything fails the lint, so none outlives its reason.
      reportUnusedDisableDirectives: 'error',
    },
  },
  js.configs.recommended,
  {
    rules: {
      // `try { fs.unlinkSync(f) } catch {}`: best-effort cleanup (kill, unlink, close)
      // ignores failures on purpose. Other empty blocks are still errors.
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    files: ['lib/**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // tfo wraps Node's own methods (a socket's or server's emit, net.Socket#connect,
      // net's getters) and calls the saved function with an explicit receiver
      // (`.call(this, ...)` / `.apply(this, args)`), its `this` typed in the cast:
      // taking the method unbound is the point, at every place this rule flags.
      '@typescript-eslint/unbound-method': 'off',
      // `LE ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o)` (system/cookies.ts): a
      // conditional call is a statement the code uses on purpose; bare expressions stay errors.
      '@typescript-eslint/no-unused-expressions': ['error', { allowTernary: true }],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { ...globals.node },
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: {
      sourceType: 'module',
      globals: { ...globals.node },
    },
  },
  {
    files: ['test/**/*.js'],
    rules: {
      // Tests strip or match terminal colour escapes (/\x1b\[[0-9;]*m/) in the CLI's output.
      'no-control-regex': 'off',
    },
  },
  prettier,
);
