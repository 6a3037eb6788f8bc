import tseslint from 'typescript-eslint';

const determinism = {
  'no-restricted-globals': [
    'error',
    { name: 'setTimeout', message: 'Protocol code takes timers from env (DESIGN.md §3).' },
    { name: 'setInterval', message: 'Protocol code takes timers from env (DESIGN.md §3).' },
    { name: 'setImmediate', message: 'Protocol code uses env.defer (DESIGN.md §3).' },
    { name: 'performance', message: 'Protocol code takes the clock from env (DESIGN.md §3).' },
  ],
  'no-restricted-imports': [
    'error',
    {
      paths: ['net', 'node:net', 'dgram', 'node:dgram', 'dns', 'node:dns', 'node:timers', 'timers'],
      patterns: [{ group: ['../transport/*', '../sim/*'], message: 'Protocol code gets its transport through env.' }],
    },
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Date', property: 'now', message: 'Protocol code takes the clock from env.' },
    { object: 'Math', property: 'random', message: 'Protocol code takes randomness from env.rng.' },
    { object: 'process', property: 'hrtime', message: 'Protocol code takes the clock from env.' },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'src/dashboard/public/**', 'test-results/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['src/core/**/*.ts', 'src/stack/**/*.ts', 'src/layers/**/*.ts', 'src/codec/**/*.ts'], rules: determinism },
);
