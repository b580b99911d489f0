import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

export default {
  preprocess: vitePreprocess(),
  compilerOptions: {
    // Component CSS goes to the emitted stylesheet, never to <style> tags
    // added at run time (the CSP forbids inline style).
    css: 'external',
  },
};
