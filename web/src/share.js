// Share links: the code is saved on the server as a snippet and opened again at `/s/{id}`.
import * as api from './api.js';
import { t } from './i18n.js';
import { describeRefusal } from './status.js';

/** The snippet id of a share link (`/s/Ab3dE9xY`), or null. */
export function sharedId(pathname = location.pathname) {
  const m = /^\/s\/([A-Za-z0-9_-]{1,64})\/?$/.exec(pathname);
  return m ? m[1] : null;
}

export function linkFor(id) {
  return `${location.origin}/s/${encodeURIComponent(id)}`;
}

/** Save the code and show its link in the dialog. */
export async function share(dialog, language, code) {
  const message = dialog.querySelector('#share-message');
  const row = dialog.querySelector('#share-row');
  const input = dialog.querySelector('#share-link');
  const copy = dialog.querySelector('#share-copy');
  message.textContent = t('share.saving');
  message.classList.remove('error-text');
  row.hidden = true;
  if (!dialog.open) dialog.showModal();
  try {
    const snippet = await api.createSnippet(language, code);
    input.value = linkFor(snippet.id);
    message.textContent = t('share.ready');
    row.hidden = false;
    copy.textContent = t('share.copy');
    input.focus();
    input.select();
  } catch (e) {
    message.textContent = describeRefusal(e);
    message.classList.add('error-text');
  }
}

/** Copy the link (the clipboard API needs a secure context: fall back to the selection). */
export async function copyLink(dialog) {
  const input = dialog.querySelector('#share-link');
  const copy = dialog.querySelector('#share-copy');
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand?.('copy');
  }
  copy.textContent = t('share.copied');
}
