// Media into a conversation through VK's upload servers, as an attachment string for messages.send:
// photos.getMessagesUploadServer -> POST field "photo" -> photos.saveMessagesPhoto -> photo{owner}_{id}_{key};
// docs.getMessagesUploadServer -> POST field "file" -> docs.save -> doc{owner}_{id}.

import { classifyError } from '../../src/delivery/retry.js';
import type { MediaBody } from '../../src/media/media.js';
import type { VkApi } from './api.js';

/** What VK takes as a photo; anything else goes as a document. */
const photoMimes = new Set(['image/jpeg', 'image/png', 'image/gif']);

interface Saved {
  id?: number;
  owner_id?: number;
  access_key?: string;
}

/**
 * An image VK will not take as a photo (its size, its dimensions, a mime that lies) still goes, as
 * a document. Each step is made once: a failure worth another try fails the send, and the core
 * tries the whole part again.
 */
export async function uploadAttachment(api: VkApi, token: string, peerId: number, file: MediaBody & { kind: string }, signal?: AbortSignal): Promise<string> {
  if (!(file.kind === 'image' && photoMimes.has(file.mime))) return uploadDoc(api, token, peerId, file, signal);
  try {
    return await uploadPhoto(api, token, peerId, file, signal);
  } catch (photoError) {
    if (classifyError(photoError).kind !== 'fatal') throw photoError;
    return uploadDoc(api, token, peerId, file, signal).catch((docError: unknown) => {
      throw classifyError(docError).kind === 'fatal' ? photoError : docError;
    });
  }
}

async function uploadPhoto(api: VkApi, token: string, peerId: number, file: MediaBody, signal?: AbortSignal): Promise<string> {
  const server = await api.call<{ upload_url?: string }>('photos.getMessagesUploadServer', token, { peer_id: peerId }, signal);
  const uploaded = await api.upload(uploadUrl(server), 'photo', { data: file.data, mime: file.mime, name: file.name ?? `image.${file.mime.split('/')[1]}` }, signal);
  // An upload server that took nothing answers photo: "[]".
  if (typeof uploaded.photo !== 'string' || uploaded.photo === '[]') throw new Error('VK photo upload returned no photo');
  const saved = await api.call<unknown>('photos.saveMessagesPhoto', token, { server: String(uploaded.server), photo: uploaded.photo, hash: String(uploaded.hash) }, signal);
  return attachment('photo', Array.isArray(saved) ? (saved[0] as Saved) : undefined);
}

async function uploadDoc(api: VkApi, token: string, peerId: number, file: MediaBody, signal?: AbortSignal): Promise<string> {
  const server = await api.call<{ upload_url?: string }>('docs.getMessagesUploadServer', token, { peer_id: peerId, type: 'doc' }, signal);
  const name = file.name ?? `file.${file.mime.split('/')[1] ?? 'bin'}`;
  const uploaded = await api.upload(uploadUrl(server), 'file', { data: file.data, mime: file.mime, name }, signal);
  if (typeof uploaded.file !== 'string') throw new Error('VK document upload returned no file');
  const saved = await api.call<{ type?: string; doc?: Saved }>('docs.save', token, { file: uploaded.file, title: name }, signal);
  return attachment('doc', saved?.doc);
}

function uploadUrl(server: { upload_url?: string }): string {
  if (typeof server.upload_url !== 'string') throw new Error('VK returned no upload_url');
  return server.upload_url;
}

function attachment(kind: 'photo' | 'doc', saved: Saved | undefined): string {
  if (typeof saved?.id !== 'number' || typeof saved.owner_id !== 'number') throw new Error(`VK saved the ${kind} but returned no id`);
  return `${kind}${saved.owner_id}_${saved.id}${saved.access_key ? `_${saved.access_key}` : ''}`;
}
