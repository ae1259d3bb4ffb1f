import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// Every time shown to a person goes through src/time.ts, which always names Beijing's zone.
// Anything that would read or print the browser's own zone is refused everywhere else.
const timeMessage =
  'format and convert times only in src/time.ts (Beijing time, whatever the zone)';
const zoneDependentMethods = [
  'toLocaleString',
  'toLocaleDateString',
  'toLocaleTimeString',
  'toDateString',
  'toTimeString',
  'toISOString',
  'toUTCString',
  'toGMTString',
  'getFullYear',
  'getYear',
  'getMonth',
  'getDate',
  'getDay',
  'getHours',
  'getMinutes',
  'getSeconds',
  'getTimezoneOffset',
  'getUTCFullYear',
  'getUTCMonth',
  'getUTCDate',
  'getUTCDay',
  'getUTCHours',
  'getUTCMinutes',
  'getUTCSeconds',
].map((property) => ({ property, message: timeMessage }));

const timeRules = {
  'no-restricted-properties': [
    'error',
    ...zoneDependentMethods,
    { object: 'Intl', property: 'DateTimeFormat', message: timeMessage },
    { object: 'Intl', property: 'RelativeTimeFormat', message: timeMessage },
    { object: 'Date', property: 'parse', message: timeMessage },
    { object: 'Date', property: 'UTC', message: timeMessage },
  ],
  'no-restricted-syntax': [
    'error',
    { selector: "NewExpression[callee.name='Date']", message: timeMessage },
    { selector: "CallExpression[callee.name='Date']", message: timeMessage },
    {
      selector: "NewExpression[callee.object.name='Intl'][callee.property.name='DateTimeFormat']",
      message: timeMessage,
    },
  ],
};

export default tseslint.config(
  { ignores: ['dist', 'node_modules', 'e2e/out'] },
  {
    files: ['src/**/*.{ts,tsx}'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: { ecmaVersion: 2022, globals: globals.browser },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      ...timeRules,
    },
  },
  {
    // The formatter itself, and its tests, which check it against the process zone.
    files: ['src/time.ts', 'src/time.test.ts'],
    rules: { 'no-restricted-properties': 'off', 'no-restricted-syntax': 'off' },
  },
  {
    files: ['vite.config.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: { globals: globals.node },
  },
  {
    // The end-to-end runner computes the Beijing times it expects on its own, to check the UI;
    // some of its functions run inside the page.
    files: ['e2e/**/*.{js,mjs}', 'eslint.config.js'],
    extends: [js.configs.recommended],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.node, ...globals.browser },
    },
  },
  prettier,
);
