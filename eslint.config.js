// ESLint flat config: typescript-eslint's recommended rules, no `any`, and imports that
// follow the pipeline (loader/ never reaches into machine/, rescue/, dump/, compare/, cli/).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'coverage/**', '.tap/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/ban-ts-comment': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['loader/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/machine/**', '**/rescue/**', '**/dump/**', '**/compare/**', '**/cli/**'],
              message: 'loader/ is the pure half: it never imports the machine, rescue, dump, compare or cli layers.',
            },
          ],
        },
      ],
    },
  },
);
