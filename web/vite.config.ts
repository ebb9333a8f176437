/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The api serves the built app from web/dist at "/", so every API call is a
// same-origin relative URL. In development Vite forwards /v1 to a local api.
const api = process.env.INTELLIDOX_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  server: { proxy: { '/v1': { target: api, changeOrigin: false } } },
  preview: { proxy: { '/v1': { target: api, changeOrigin: false } } },
  build: { outDir: 'dist', sourcemap: true, target: 'es2022' },
  worker: { format: 'es' },
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
});
