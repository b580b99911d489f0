import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { applyTheme } from './lib/theme.svelte';
import { i18n } from './lib/i18n/index.svelte';

// Theme and language first, so the first paint is already right.
applyTheme();
document.documentElement.lang = i18n.locale;

mount(App, { target: document.getElementById('app')! });
